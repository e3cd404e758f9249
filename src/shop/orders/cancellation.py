"""Cancelling an order: a change here, then calls to the products service and (for a
paid order) the payment provider.

It commits step by step, so it takes :class:`Orders` (never a session) and opens
a unit of work per step: the cancellation (with its pending refund) is committed
before the stock is given back and the money refunded, as no transaction is held
open across a call to another service.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import unit_of_work
from shop.kit.identity import Identity
from shop.kit.outages import outlasting, unreachable
from shop.orders import lifecycle, payments, promotion_uses, refunds, stock
from shop.orders.context import Orders, actor_of
from shop.orders.models import Order, OrderStatus, PaymentStatus, StockState
from shop.orders.payment_models import PaymentState
from shop.orders.payment_repository import PaymentRepository
from shop.orders.repository import OrderRepository
from shop.orders.service import visible

log = structlog.get_logger("shop.orders.cancellation")


async def cancel_order(orders: Orders, identity: Identity, order_id: uuid.UUID) -> Order:
    """Pending or confirmed → cancelled; then the stock goes back and what was paid is
    refunded (or the reconciler finishes either, if products, the payment provider or
    the database cannot be reached now)."""
    async with unit_of_work(orders.sessionmaker) as session:
        pending = visible(await OrderRepository(session).lock(order_id), identity).status
    if pending is OrderStatus.PENDING:
        # Its payment may still be awaited online: it must never be paid once the order
        # is cancelled (if it was paid meanwhile, the order is settled: then refunded).
        await payments.cancel_at_provider(orders, order_id)
    async with unit_of_work(orders.sessionmaker) as session:
        order = visible(await OrderRepository(session).lock(order_id), identity)
        by_customer = order.user_id == identity.user_id
        note = "cancelled by the customer" if by_customer else "cancelled by an admin"
        actor = actor_of(identity)
        lifecycle.transition(session, order, OrderStatus.CANCELLED, actor, note)
        await promotion_uses.give_back(session, order_id)  # its code's use counts no more
        give_back = order.stock_state != StockState.RELEASED
        await _nothing_owed(session, order)
        # Recorded with the cancellation, so that a crash before the provider is asked
        # leaves a pending refund for the reconciler, never a cancelled order kept paid.
        refund = await refunds.open_remainder(session, order, reason=f"order {note}", actor=actor)
        refund_id = None if refund is None else refund.id
    # The order is cancelled now: an outage must not turn that into a 5xx, which a client
    # retrying without an Idempotency-Key would see become a 409 (already cancelled). What
    # giving the stock back cannot finish now, the reconciler does.
    if give_back:
        await stock.give_back(orders, order_id)
    if refund_id is not None:
        await _refund(orders, refund_id)
    return await outlasting(lambda: _read(orders, identity, order_id), "read a cancelled order")


async def _nothing_owed(session: AsyncSession, order: Order) -> None:
    """A cancelled order not paid owes nothing; its payment can no longer be paid."""
    if order.payment_status is not PaymentStatus.AWAITING:
        return
    order.payment_status = PaymentStatus.NOT_REQUIRED
    payment = await PaymentRepository(session).of_order(order.id, lock=True)
    if payment is not None and payment.status is PaymentState.AWAITING:
        payment.status = PaymentState.CANCELLED


async def _refund(orders: Orders, refund_id: uuid.UUID) -> None:
    """Finishes the cancelled order's refund; an outage leaves it to the reconciler."""
    try:
        await refunds.finish(orders, refund_id)
    except Exception as exc:
        if not unreachable(exc):
            raise
        log.warning("refund left to the reconciler", refund_id=str(refund_id), reason=str(exc))


async def _read(orders: Orders, identity: Identity, order_id: uuid.UUID) -> Order:
    async with unit_of_work(orders.sessionmaker) as session:
        return visible(await OrderRepository(session).full(order_id), identity)
