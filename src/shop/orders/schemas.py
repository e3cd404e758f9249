"""Request and response bodies of the orders API. Unknown fields are refused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shop.kit.contracts.sellable import SellableRef
from shop.kit.validation import JsonInt, StrictInput
from shop.orders.countries import COUNTRY_CODES
from shop.orders.models import OrderStatus, PaymentStatus
from shop.orders.payment_models import PaymentState, RefundStatus

MAX_ITEMS = 100
# The bound of the schema; MAX_LINE_QUANTITY (100 by default) is the shop's own, lower one.
MAX_QUANTITY = 1000

PromotionCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="Letters, digits, - and _; case-insensitive",
    ),
]


PaymentProviderName = Literal["manual", "stripe"]


class Strict(StrictInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _country(value: str) -> str:
    code = value.upper()
    if code not in COUNTRY_CODES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as US or DE")
    return code


class AddressIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Annotated[str, Field(max_length=200)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_country)]
    # The state or province, where a tax rate is by region (e.g. "TX").
    region: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class ItemIn(SellableRef, Strict):
    """A variant; or, by ``product_id`` alone, a product with a single variant."""

    quantity: Annotated[JsonInt, Field(ge=1, le=MAX_QUANTITY)]


def _distinct_products(items: list[ItemIn]) -> list[ItemIn]:
    seen: set[tuple[str, uuid.UUID]] = set()
    for item in items:
        if item.key in seen:
            raise ValueError(
                f"{item.key[0]} {item.key[1]} is listed more than once; give it one line"
            )
        seen.add(item.key)
    return items


class PlaceOrderIn(Strict):
    items: Annotated[
        list[ItemIn],
        Field(min_length=1, max_length=MAX_ITEMS),
        AfterValidator(_distinct_products),
    ]
    shipping_address: AddressIn
    shipping_method_id: uuid.UUID | None = None
    promotion_code: PromotionCode | None = None
    payment_provider: PaymentProviderName | None = Field(
        default=None, description="One of PAYMENT_PROVIDERS; the first of them when absent"
    )

    def idempotency_request(self) -> dict[str, Any]:
        """The request an Idempotency-Key remembers: without the fields added since keys
        were first stored when they are not given, so a retry across an upgrade matches."""
        request = self.model_dump(mode="json")
        for added in ("shipping_method_id", "promotion_code", "payment_provider"):
            if request[added] is None:
                del request[added]
        if request["shipping_address"]["region"] is None:
            del request["shipping_address"]["region"]
        return request


class StatusChangeIn(Strict):
    status: Literal["shipped", "delivered"]
    tracking_number: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    note: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _tracking_number_with_shipped(self) -> Self:
        if self.status == "shipped" and not self.tracking_number:
            raise ValueError("shipping needs a tracking_number")
        if self.status != "shipped" and self.tracking_number is not None:
            raise ValueError("a tracking_number is given only when the order is shipped")
        return self


class RefundIn(Strict):
    amount: (
        Annotated[JsonInt, Field(ge=1, description="Minor units; all that is left when absent")]
        | None
    ) = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class RefundOut(BaseModel):
    id: uuid.UUID
    amount: int = Field(description="Minor units")
    reason: str
    status: RefundStatus = Field(
        description="pending: asked of the payment provider, not yet known to be done"
    )
    created_at: datetime


class OrderItemOut(BaseModel):
    product_id: uuid.UUID
    variant_id: uuid.UUID | None = Field(description="null on lines from before variants")
    sku: str
    name: str
    variant_title: str = Field(description='"M / Red"; "" for a default variant')
    unit_price: int = Field(description="Minor units, the catalog's price when ordered")
    quantity: int
    line_subtotal: int = Field(description="unit_price * quantity")
    discount: int = Field(description="This line's share of the discount")
    tax: int = Field(description="Added on top, or contained when prices include tax")
    line_total: int = Field(description="line_subtotal - discount (+ tax when added)")


class HistoryOut(BaseModel):
    status: OrderStatus
    at: datetime
    note: str


class AddressOut(BaseModel):
    name: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str
    region: str | None = None


class ShippingMethodSnapshot(BaseModel):
    """The shipping method as it was at placement; ``price`` as offered for this
    subtotal (0 from its ``free_over`` on)."""

    id: uuid.UUID
    name: str
    price: int


class PaymentOut(BaseModel):
    provider: str = Field(description="`manual` or `stripe`")
    status: PaymentState = Field(description="Where the money stands at the provider")
    amount: int = Field(description="Minor units: the order's total")
    currency: str
    client_secret: str | None = Field(
        default=None,
        description="For Stripe.js: only to the order's owner, only while awaiting payment",
    )
    paid_at: datetime | None = None
    last_error: str | None = Field(
        default=None, description="Why the last attempt to pay was declined, while awaiting"
    )


class OrderOut(BaseModel):
    id: uuid.UUID
    number: str
    status: OrderStatus
    payment_status: PaymentStatus = Field(description="What the customer owes")
    payment: PaymentOut | None = Field(description="null only before the order is placed")
    user_id: uuid.UUID | None = Field(description="The customer's account; null for a guest's")
    email: str
    items: list[OrderItemOut]
    subtotal: int = Field(description="Minor units")
    discount_total: int
    shipping_total: int
    tax_total: int = Field(description="Added, or contained when prices include tax")
    total: int = Field(description="Minor units")
    promotion_code: str | None
    shipping_method: ShippingMethodSnapshot | None
    currency: str | None = Field(description="ISO 4217; null only while nothing is priced")
    shipping_address: AddressOut
    tracking_number: str | None
    history: list[HistoryOut]
    refunds: list[RefundOut] = Field(description="Oldest first")
    created_at: datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None
