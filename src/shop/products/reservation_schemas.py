"""Bodies of the internal reservation API. Unknown fields are refused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shop.kit.validation import JsonBool, JsonInt
from shop.products.models import ReservationStatus

MAX_LINES = 100
MAX_QUANTITY = 1000


class ReserveLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    quantity: Annotated[JsonInt, Field(ge=1, le=MAX_QUANTITY)]


def _distinct_products(lines: list[ReserveLineIn]) -> list[ReserveLineIn]:
    seen: set[uuid.UUID] = set()
    for line in lines:
        if line.product_id in seen:
            raise ValueError(f"product {line.product_id} is listed more than once")
        seen.add(line.product_id)
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


class ReservationLineOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    name: str
    unit_price: int = Field(description="Minor units, the catalog's price when reserved")
    currency: str
    quantity: int


class ReservationOut(BaseModel):
    order_id: uuid.UUID
    status: ReservationStatus
    expires_at: datetime
    lines: list[ReservationLineOut]
