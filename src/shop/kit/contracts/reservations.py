"""The products service's internal reservation API (``/internal/v1/reservations``).

Products serves it (shop.products.api_internal) and the orders service calls it
(shop.orders.products_client): the request and answer bodies, the reservation's
states, and the problem types a refusal carries, with the members of their
``errors``. Unknown fields in a request are refused; a client ignores unknown
fields in an answer.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shop.kit.contracts.sellable import SellableRef
from shop.kit.validation import JsonBool, JsonInt

PREFIX = "/internal/v1/reservations"
MAX_LINES = 100
MAX_QUANTITY = 1000
# The bounds of a hold asked for explicitly (``hold_seconds``).
MIN_HOLD_SECONDS = 60
MAX_HOLD_SECONDS = 86400


class ReservationStatus(enum.StrEnum):
    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"


class ReservationRefusal(enum.StrEnum):
    """The problem types (the last part of the ``type`` URL) of a refused call."""

    PRODUCTS_NOT_ORDERABLE = "products-not-orderable"  # 422, errors: NotOrderableLine
    # 422, errors: NotOrderableLine: a line names by product_id alone a product with
    # several active variants.
    VARIANT_REQUIRED = "variant-required"
    INSUFFICIENT_STOCK = "insufficient-stock"  # 409, errors: ShortLine
    NOT_FOUND = "reservation-not-found"  # 404
    MISMATCH = "reservation-mismatch"  # 409: reserved before with other lines
    RELEASED = "reservation-released"  # 409
    EXPIRED = "reservation-expired"  # 409
    COMMITTED = "reservation-committed"  # 409


# --- Requests ---------------------------------------------------------------------


class ReserveLineIn(SellableRef):
    """A variant, by ``variant_id``; or by ``product_id`` alone, the product's only
    active variant (a product with several is refused: ``variant-required``). With
    both, the variant must be one of that product's."""

    model_config = ConfigDict(extra="forbid")

    quantity: Annotated[JsonInt, Field(ge=1, le=MAX_QUANTITY)]


def _distinct_products(lines: list[ReserveLineIn]) -> list[ReserveLineIn]:
    seen: set[tuple[str, uuid.UUID]] = set()
    for line in lines:
        if line.key in seen:
            raise ValueError(f"{line.key[0]} {line.key[1]} is listed more than once")
        seen.add(line.key)
    return lines


class ReserveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: Annotated[
        list[ReserveLineIn],
        Field(min_length=1, max_length=MAX_LINES),
        AfterValidator(_distinct_products),
    ]
    commit: JsonBool = Field(
        default=False,
        description="Take the units off the shelf at once (the reservation is answered "
        "`committed`), as a reserve followed by a commit would, in one step. A repeat "
        "of a reservation still held commits it.",
    )
    hold_seconds: JsonInt | None = Field(
        default=None,
        ge=MIN_HOLD_SECONDS,
        le=MAX_HOLD_SECONDS,
        description="How long held units stay held (not committed); the products "
        "service's RESERVATION_TTL_SECONDS when absent. The orders service asks for "
        "longer than a payment may take.",
    )


# --- Answers ----------------------------------------------------------------------


class ReservationLineOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    product_id: uuid.UUID
    variant_id: uuid.UUID
    sku: str = Field(description="The variant's SKU")
    name: str = Field(description="The product's name")
    variant_title: str = Field(default="", description='"M / Red"; "" for a default variant')
    unit_price: int = Field(description="Minor units, the catalog's price when reserved")
    currency: str
    quantity: int


class ReservationOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: uuid.UUID
    status: ReservationStatus
    expires_at: datetime
    lines: list[ReservationLineOut]


# --- Refusals ---------------------------------------------------------------------


class ShortLine(BaseModel):
    """A member of ``errors`` of ``insufficient-stock``: a line asking for more than
    is available."""

    product_id: uuid.UUID
    variant_id: uuid.UUID | None = None
    requested: int
    available: int


class NotOrderableLine(BaseModel):
    """A member of ``errors`` of ``products-not-orderable``: the line's product or
    variant is unknown (``reason`` ``unknown``), not active (``reason`` its status) or
    named twice (``duplicate``); and of ``variant-required`` (``reason``
    ``variant-required``): the line names by product_id a product with several variants."""

    field: str  # lines.<index>.product_id, lines.<index>.variant_id
    message: str
    product_id: uuid.UUID | None
    variant_id: uuid.UUID | None = None
    reason: str


class ReservationProblem(BaseModel):
    """An RFC 9457 problem answered by the reservation API (members beyond these kept)."""

    model_config = ConfigDict(extra="allow")

    type: str = ""
    status: int = 0
    title: str = ""
    detail: str = ""
    errors: list[dict[str, Any]] = Field(default_factory=list)
    order_id: uuid.UUID | None = None
    reservation_status: ReservationStatus | None = None

    @property
    def slug(self) -> str:
        """The last part of ``type``, as the problem states it."""
        return self.type.rsplit("/", 1)[-1]

    @property
    def refusal(self) -> ReservationRefusal | None:
        """The refusal ``type`` names, or None for a problem this contract does not list."""
        try:
            return ReservationRefusal(self.slug)
        except ValueError:
            return None
