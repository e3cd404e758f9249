"""Request and response bodies of the carts API. Unknown fields are refused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field

from shop.kit.contracts.sellable import SellableRef
from shop.kit.validation import JsonInt
from shop.orders.cart_models import CartStatus
from shop.orders.schemas import (
    MAX_QUANTITY,
    AddressOut,
    OrderOut,
    PaymentProviderName,
    PromotionCode,
    Strict,
)

Email = Annotated[EmailStr, Field(max_length=320)]


class CartIn(Strict):
    email: Email | None = None


class CartItemIn(SellableRef, Strict):
    """A variant; or, by ``product_id`` alone, a product with a single variant."""

    quantity: Annotated[JsonInt, Field(ge=1, le=MAX_QUANTITY)]


class QuantityIn(Strict):
    quantity: Annotated[JsonInt, Field(ge=0, le=MAX_QUANTITY, description="0 removes the line")]


class EmailIn(Strict):
    email: Email


class ShippingMethodIn(Strict):
    shipping_method_id: uuid.UUID


class PromotionIn(Strict):
    code: PromotionCode


class MergeIn(Strict):
    guest_cart_id: uuid.UUID


class CheckoutIn(Strict):
    payment_provider: PaymentProviderName | None = Field(
        default=None, description="One of PAYMENT_PROVIDERS; the first of them when absent"
    )


class CartItemOut(BaseModel):
    id: uuid.UUID
    variant_id: uuid.UUID
    product_id: uuid.UUID
    sku: str | None = Field(description="null when the catalog no longer knows the variant")
    name: str | None
    variant_title: str | None
    unit_price: int = Field(description="Minor units, the catalog's current price")
    quantity: int
    line_subtotal: int
    discount: int
    tax: int
    line_total: int
    available: int = Field(description="Units the catalog has available now")


class CartShippingMethodOut(BaseModel):
    id: uuid.UUID
    name: str
    price: int = Field(description="As offered for this cart's subtotal")
    min_days: int
    max_days: int


class ProblemOut(BaseModel):
    """Why the cart can't be checked out as it is (it still shows what it can)."""

    reason: str = Field(
        description="`archived`, `unknown`, `insufficient-stock`, `shipping-method-not-offered`, "
        "`mixed-currencies`, or `promotion-<reason>` (the code's refusal)"
    )
    item_id: uuid.UUID | None = None
    requested: int | None = None
    available: int | None = None
    detail: str = ""


class CartOut(BaseModel):
    id: uuid.UUID
    status: CartStatus
    email: str | None
    items: list[CartItemOut]
    shipping_address: AddressOut | None
    shipping_method: CartShippingMethodOut | None
    promotion_code: str | None
    subtotal: int
    discount_total: int
    shipping_total: int
    tax_total: int
    total: int
    currency: str | None
    problems: list[ProblemOut]
    updated_at: datetime
    expires_at: datetime


class ShippingOptionOut(BaseModel):
    id: uuid.UUID
    name: str
    price: int
    min_days: int
    max_days: int


class ShippingOptionsOut(BaseModel):
    items: list[ShippingOptionOut]


class CheckedOutOut(OrderOut):
    order_token: str | None = Field(
        default=None,
        description="A guest order's secret, answered once: send it as X-Order-Token to read "
        "the order. Absent for a user's order, and from a replay of the same Idempotency-Key.",
    )
