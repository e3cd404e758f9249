"""Cancelling an order: a change here, then a call to the products service.

It commits step by step, so it takes :class:`Orders` (never a session) and opens
a unit of work per step: the cancellation is committed before the stock is given
back, as no transaction is held open across a call to products.
"""

from __future__ import annotations

import uuid

from shop.kit.db import unit_of_work
from shop.kit.identity import Identity
from shop.kit.outages import outlasting
from shop.orders import lifecycle, promotion_uses, stock
from shop.orders.context import Orders, actor_of
from shop.orders.models import Order, OrderStatus, StockState
from shop.orders.repository import OrderRepository
from shop.orders.service import visible


async def cancel_order(orders: Orders, identity: Identity, order_id: uuid.UUID) -> Order:
    """Pending or confirmed → cancelled; then the stock goes back (or the reconciler
    gives it back, if products or the database cannot be reached now)."""
    async with unit_of_work(orders.sessionmaker) as session:
        order = visible(await OrderRepository(session).lock(order_id), identity)
        by_customer = order.user_id == identity.user_id
        note = "cancelled by the customer" if by_customer else "cancelled by an admin"
        lifecycle.transition(session, order, OrderStatus.CANCELLED, actor_of(identity), note)
        await promotion_uses.give_back(session, order_id)  # its code's use counts no more
        give_back = order.stock_state != StockState.RELEASED
    # The order is cancelled now: an outage must not turn that into a 5xx, which a client
    # retrying without an Idempotency-Key would see become a 409 (already cancelled). What
    # giving the stock back cannot finish now, the reconciler does.
    if give_back:
        await stock.give_back(orders, order_id)
    return await outlasting(lambda: _read(orders, identity, order_id), "read a cancelled order")


async def _read(orders: Orders, identity: Identity, order_id: uuid.UUID) -> Order:
    async with unit_of_work(orders.sessionmaker) as session:
        return visible(await OrderRepository(session).full(order_id), identity)
