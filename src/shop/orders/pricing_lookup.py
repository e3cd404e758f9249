"""What an address is offered and charged: its shipping options and its tax rate.
Plain functions on the caller's session (carts and checkout call them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shop.orders.pricing import NO_TAX, Shipping, Tax, shipping_amount
from shop.orders.pricing_models import ShippingMethod
from shop.orders.pricing_repository import ShippingMethodRepository, TaxRateRepository


@dataclass(frozen=True)
class ShippingOption:
    """A method offered to an address, at its price for this subtotal."""

    id: uuid.UUID
    name: str
    price: int  # 0 where free_over applies
    min_days: int
    max_days: int


def shipping_of(method: ShippingMethod) -> Shipping:
    return Shipping(price=method.price, free_over=method.free_over)


def offers(method: ShippingMethod, country: str) -> bool:
    return method.active and ("*" in method.countries or country in method.countries)


async def shipping_options(
    session: AsyncSession, country: str, subtotal: int
) -> list[ShippingOption]:
    """The active methods that ship to ``country``, cheapest first, each priced for a
    cart of ``subtotal`` (before discounts): 0 from its ``free_over`` on."""
    methods = await ShippingMethodRepository(session).offered_to(country)
    return [
        ShippingOption(
            id=method.id,
            name=method.name,
            price=shipping_amount(shipping_of(method), subtotal, None),
            min_days=method.min_days,
            max_days=method.max_days,
        )
        for method in methods
    ]


async def offered_method(
    session: AsyncSession, method_id: uuid.UUID, country: str
) -> ShippingMethod | None:
    """The method if it is active and ships to ``country``; else None."""
    method = await ShippingMethodRepository(session).get(method_id)
    return method if method is not None and offers(method, country) else None


async def tax_for(session: AsyncSession, country: str, region: str | None = None) -> Tax:
    """The most specific rate of the address: its region's, else its country's, else 0."""
    rate = await TaxRateRepository(session).most_specific(country, region)
    if rate is None:
        return NO_TAX
    return Tax(rate.rate_bp, applies_to_shipping=rate.applies_to_shipping)
