"""The orders use cases besides placement (``shop.orders.placement``).

Reading and the admin's status changes work in the request's session and only
flush: the session dependency commits. Cancelling is followed by a call to
the products service, so it commits its own transaction first (a unit of
work) and never holds it open across that call.

Who sees what: an admin sees every order; a customer sees their own orders
that were placed (a placement that failed is never shown). Anything else is
"not found", never "forbidden", so order ids cannot be probed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import unit_of_work
from shop.kit.identity import Identity
from shop.kit.outages import outlasting
from shop.kit.pagination import decode_cursor, encode_cursor
from shop.orders import lifecycle, stock
from shop.orders.context import Orders, actor_of
from shop.orders.emails import OrderEmails
from shop.orders.errors import OrderNotFoundError, StockNotCommittedError, UserFilterForbiddenError
from shop.orders.models import Order, OrderStatus, StockState
from shop.orders.repository import OrderRepository
from shop.orders.schemas import StatusChangeIn


def _visible(order: Order | None, identity: Identity) -> Order:
    if order is None or not (
        identity.is_admin or (order.user_id == identity.user_id and order.placed)
    ):
        raise OrderNotFoundError("No such order.")
    return order


async def get_order(session: AsyncSession, identity: Identity, order_id: uuid.UUID) -> Order:
    return _visible(await OrderRepository(session).full(order_id), identity)


async def list_orders(
    session: AsyncSession,
    identity: Identity,
    limit: int,
    cursor: str | None,
    user_id: uuid.UUID | None = None,
    status: OrderStatus | None = None,
) -> tuple[list[Order], str | None]:
    """A page of orders, newest first, and the cursor of the next page."""
    if not identity.is_admin:
        if user_id is not None and user_id != identity.user_id:
            raise UserFilterForbiddenError("Only an admin may list another user's orders.")
        user_id = identity.user_id
    after = decode_cursor(cursor, datetime, uuid.UUID) if cursor else None
    orders = await OrderRepository(session).page(
        limit + 1,
        (after[0], after[1]) if after else None,
        user_id=user_id,
        status=status,
        placed_only=not identity.is_admin,
    )
    page = orders[:limit]
    more = len(orders) > limit
    return page, encode_cursor([page[-1].created_at, page[-1].id]) if more else None


async def cancel_order(orders: Orders, identity: Identity, order_id: uuid.UUID) -> Order:
    """Pending or confirmed → cancelled; then the stock goes back (or the reconciler
    gives it back, if products or the database cannot be reached now)."""
    async with unit_of_work(orders.sessionmaker) as session:
        order = _visible(await OrderRepository(session).lock(order_id), identity)
        by_customer = order.user_id == identity.user_id
        note = "cancelled by the customer" if by_customer else "cancelled by an admin"
        lifecycle.transition(session, order, OrderStatus.CANCELLED, actor_of(identity), note)
        give_back = order.stock_state != StockState.RELEASED
    # The order is cancelled now: an outage must not turn that into a 5xx, which a client
    # retrying without an Idempotency-Key would see become a 409 (already cancelled). What
    # giving the stock back cannot finish now, the reconciler does.
    if give_back:
        await stock.give_back(orders, order_id)
    return await outlasting(lambda: _read(orders, identity, order_id), "read a cancelled order")


async def _read(orders: Orders, identity: Identity, order_id: uuid.UUID) -> Order:
    async with unit_of_work(orders.sessionmaker) as session:
        return _visible(await OrderRepository(session).full(order_id), identity)


async def change_status(
    session: AsyncSession,
    emails: OrderEmails,
    admin: Identity,
    order_id: uuid.UUID,
    change: StatusChangeIn,
) -> Order:
    """An admin marks an order shipped (with its tracking number) or delivered."""
    repository = OrderRepository(session)
    order = _visible(await repository.lock(order_id), admin)
    target = OrderStatus(change.status)
    if (
        target == OrderStatus.SHIPPED
        and lifecycle.can_transition(order.status, target)
        and order.stock_state != StockState.COMMITTED
    ):
        raise StockNotCommittedError(
            "The order's stock is not committed at the catalog yet; try again shortly."
        )
    lifecycle.transition(session, order, target, actor_of(admin), change.note or "")
    if target == OrderStatus.SHIPPED:
        order.tracking_number = change.tracking_number
        await emails.shipped(session, order)
    await session.flush()
    return _visible(await repository.full(order_id), admin)
