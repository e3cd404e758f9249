"""Pricing an order as it is placed: its shipping method, its promotion code (a use is
claimed) and its address's tax rate, applied by :func:`shop.orders.pricing.price` to the
prices products answered at reservation. Runs in the transaction that confirms the
order, so a refused code (409 when the last use went to another order meanwhile)
rolls the confirmation back, and the placement gives the reservation back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shop.orders import pricing
from shop.orders.errors import ShippingMethodNotOfferedError
from shop.orders.models import Order, OrderLine
from shop.orders.pricing_lookup import offered_method, shipping_of, tax_for
from shop.orders.promotion_uses import Customer, claim, discount_of


@dataclass(frozen=True)
class Choices:
    """What the customer chose to price the order with, beside its address."""

    shipping_method_id: uuid.UUID | None = None
    promotion_code: str | None = None


async def shipping_choice(
    session: AsyncSession, method_id: uuid.UUID | None, country: str, subtotal: int
) -> tuple[pricing.Shipping | None, dict[str, Any] | None]:
    """The method's price rule and its snapshot ``{id, name, price}`` (the price as offered
    for ``subtotal``); (None, None) without a method; 422 if it is not offered."""
    if method_id is None:
        return None, None
    method = await offered_method(session, method_id, country)
    if method is None:
        raise ShippingMethodNotOfferedError()
    shipping = shipping_of(method)
    offered = pricing.shipping_amount(shipping, subtotal, None)
    return shipping, {"id": str(method.id), "name": method.name, "price": offered}


async def price_order(
    session: AsyncSession,
    order: Order,
    lines: Sequence[OrderLine],
    choices: Choices,
    *,
    prices_include_tax: bool,
    now: datetime,
) -> None:
    """Sets every figure of the (locked, pending) order and of its lines; claims the
    promotion's use under the order's id. Raises the refusal (a ShopError) otherwise."""
    address = order.shipping_address
    amounts = [pricing.Line(line.unit_price, line.quantity) for line in lines]
    subtotal = pricing.subtotal(amounts)
    shipping, snapshot = await shipping_choice(
        session, choices.shipping_method_id, address["country"], subtotal
    )
    discount = None
    if choices.promotion_code is not None:
        customer = Customer(user_id=order.user_id, email=order.email)
        promotion = await claim(
            session,
            choices.promotion_code,
            order_id=order.id,
            customer=customer,
            subtotal=subtotal,
            now=now,
        )
        discount = discount_of(promotion)
    tax = await tax_for(session, address["country"], address.get("region"))
    totals = pricing.price(
        amounts,
        discount=discount,
        shipping=shipping,
        tax=tax,
        prices_include_tax=prices_include_tax,
    )
    for line, priced in zip(lines, totals.lines, strict=True):
        line.discount = priced.discount
        line.tax = priced.tax
        line.line_total = priced.total
    order.subtotal = totals.subtotal
    order.discount_total = totals.discount_total
    order.shipping_total = totals.shipping_total
    order.tax_total = totals.tax_total
    order.total = totals.total
    order.promotion_code = choices.promotion_code
    order.shipping_method = snapshot
