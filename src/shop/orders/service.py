"""The orders use cases that work in the request's transaction: reading, and the
admin's status changes.

Each takes the request's ``session`` and only flushes: the session dependency
commits. Those that call the products service between transactions (placing and
cancelling, ``shop.orders.placement`` and ``shop.orders.cancellation``) commit
step by step instead, and take :class:`~shop.orders.context.Orders`, never a session.

Who sees what: an admin sees every order; a customer sees their own orders
that were placed (a placement that failed is never shown). Anything else is
"not found", never "forbidden", so order ids cannot be probed.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.identity import Identity
from shop.kit.pagination import decode_cursor, encode_cursor
from shop.orders import lifecycle
from shop.orders.context import actor_of
from shop.orders.emails import OrderEmails
from shop.orders.errors import OrderNotFoundError, StockNotCommittedError, UserFilterForbiddenError
from shop.orders.models import Order, OrderStatus, PaymentStatus, StockState
from shop.orders.repository import OrderRepository
from shop.orders.schemas import StatusChangeIn


def visible(order: Order | None, identity: Identity) -> Order:
    """``order`` if ``identity`` may see it; else "not found" (see the module's docstring)."""
    if order is None or not (
        identity.is_admin or (order.user_id == identity.user_id and order.placed)
    ):
        raise OrderNotFoundError("No such order.")
    return order


def _token_opens(order: Order, order_token: str | None) -> bool:
    """Whether ``order_token`` is the placed guest order's secret (compared in constant time)."""
    if order_token is None or order.order_token_hash is None or not order.placed:
        return False
    digest = hashlib.sha256(order_token.encode()).hexdigest()
    return hmac.compare_digest(digest, order.order_token_hash)


def is_owner(order: Order, identity: Identity | None, order_token: str | None) -> bool:
    """Whether the reader is the order's owner: its customer, or a guest order's token."""
    if identity is not None and order.user_id is not None and order.user_id == identity.user_id:
        return True
    return _token_opens(order, order_token)


async def get_order(
    session: AsyncSession,
    identity: Identity | None,
    order_id: uuid.UUID,
    order_token: str | None = None,
) -> Order:
    """The order for its owner or an admin, or for whoever holds a guest order's token."""
    order = await OrderRepository(session).full(order_id)
    if order is not None and _token_opens(order, order_token):
        return order
    if identity is None:
        raise OrderNotFoundError("No such order.")
    return visible(order, identity)


async def list_orders(
    session: AsyncSession,
    identity: Identity,
    limit: int,
    cursor: str | None,
    user_id: uuid.UUID | None = None,
    status: OrderStatus | None = None,
    payment_status: PaymentStatus | None = None,
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
        payment_status=payment_status,
        placed_only=not identity.is_admin,
    )
    page = orders[:limit]
    more = len(orders) > limit
    return page, encode_cursor([page[-1].created_at, page[-1].id]) if more else None


async def change_status(
    session: AsyncSession,
    emails: OrderEmails,
    admin: Identity,
    order_id: uuid.UUID,
    change: StatusChangeIn,
) -> Order:
    """An admin marks an order shipped (with its tracking number) or delivered."""
    repository = OrderRepository(session)
    order = visible(await repository.lock(order_id), admin)
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
    return visible(await repository.full(order_id), admin)
