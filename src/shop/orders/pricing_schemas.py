"""Bodies of the admin resources carts and checkout price with: shipping methods, tax
rates, promotions. Unknown fields are refused; what depends on two fields (a window, a
day range, a kind and its value) is checked by the use cases on the merged values."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shop.kit.validation import JsonBool, JsonInt
from shop.orders.countries import COUNTRY_CODES
from shop.orders.pricing import BASIS_POINTS, DiscountKind
from shop.orders.pricing_models import ANY_COUNTRY
from shop.orders.schemas import PromotionCode, Strict

MAX_AMOUNT = 10**12  # minor units: far above any price, far below BIGINT
MAX_DAYS = 365

Amount = Annotated[JsonInt, Field(ge=0, le=MAX_AMOUNT, description="Minor units")]
Days = Annotated[JsonInt, Field(ge=0, le=MAX_DAYS)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Limit = Annotated[JsonInt, Field(ge=1, le=10**9)]


def _country(value: str) -> str:
    code = value.upper()
    if code not in COUNTRY_CODES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as US or DE")
    return code


def _countries(values: list[str]) -> list[str]:
    if ANY_COUNTRY in values:
        if len(values) != 1:
            raise ValueError('["*"] (everywhere) stands alone')
        return values
    codes = [_country(value) for value in values]
    if len(set(codes)) != len(codes):
        raise ValueError("a country is listed more than once")
    return codes


Country = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_country)]
Countries = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=2)]],
    Field(min_length=1, max_length=len(COUNTRY_CODES)),
    AfterValidator(_countries),
]


# --- shipping methods ---------------------------------------------------------------


class ShippingMethodIn(Strict):
    name: Name
    countries: Countries
    price: Amount
    free_over: Amount | None = None
    min_days: Days
    max_days: Days
    active: JsonBool = True


class ShippingMethodUpdate(Strict):
    name: Name | None = None
    countries: Countries | None = None
    price: Amount | None = None
    free_over: Amount | None = None
    min_days: Days | None = None
    max_days: Days | None = None
    active: JsonBool | None = None


class ShippingMethodOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    countries: list[str]
    price: int = Field(description="Minor units")
    free_over: int | None = Field(description="Free from this subtotal on (inclusive)")
    min_days: int
    max_days: int
    active: bool


class ShippingMethodPage(BaseModel):
    items: list[ShippingMethodOut]
    next_cursor: str | None


# --- tax rates ----------------------------------------------------------------------


class TaxRateIn(Strict):
    country: Country
    region: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    name: Name
    rate_bp: Annotated[JsonInt, Field(ge=0, le=BASIS_POINTS, description="Basis points")]
    applies_to_shipping: JsonBool = False


class TaxRateUpdate(Strict):
    country: Country | None = None
    region: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    name: Name | None = None
    rate_bp: Annotated[JsonInt, Field(ge=0, le=BASIS_POINTS)] | None = None
    applies_to_shipping: JsonBool | None = None


class TaxRateOut(BaseModel):
    id: uuid.UUID
    country: str
    region: str | None
    name: str
    rate_bp: int
    applies_to_shipping: bool


class TaxRatePage(BaseModel):
    items: list[TaxRateOut]
    next_cursor: str | None


# --- promotions ---------------------------------------------------------------------


class PromotionIn(Strict):
    code: PromotionCode
    kind: DiscountKind
    value: Annotated[JsonInt, Field(ge=1, le=MAX_AMOUNT)] | None = None
    min_subtotal: Amount | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    usage_limit: Limit | None = None
    per_customer_limit: Limit | None = None
    active: JsonBool = True


class PromotionUpdate(Strict):
    code: PromotionCode | None = None
    kind: DiscountKind | None = None
    value: Annotated[JsonInt, Field(ge=1, le=MAX_AMOUNT)] | None = None
    min_subtotal: Amount | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    usage_limit: Limit | None = None
    per_customer_limit: Limit | None = None
    active: JsonBool | None = None


class PromotionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    kind: DiscountKind
    value: int | None
    min_subtotal: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    usage_limit: int | None
    per_customer_limit: int | None
    active: bool
    times_used: int


class PromotionPage(BaseModel):
    items: list[PromotionOut]
    next_cursor: str | None
