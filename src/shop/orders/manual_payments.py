"""Manual payments (bank transfer, cash on delivery): an admin marks the order paid once
the money is in. In the request's transaction: it only flushes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.identity import Identity
from shop.orders import lifecycle
from shop.orders.context import actor_of
from shop.orders.emails import OrderEmails, format_money
from shop.orders.models import Order, OrderStatus, PaymentStatus
from shop.orders.payment_errors import OrderCancelledError, PaymentNotManualError
from shop.orders.payment_models import PaymentState
from shop.orders.payment_providers.manual import MANUAL
from shop.orders.payment_repository import PaymentRepository
from shop.orders.repository import OrderRepository
from shop.orders.service import visible


async def mark_paid(
    session: AsyncSession, emails: OrderEmails, admin: Identity, order_id: uuid.UUID
) -> Order:
    """A manual order's payment is received: the order becomes paid (history note,
    "payment received" email). Once paid, marking it again changes nothing."""
    repository = OrderRepository(session)
    order = visible(await repository.lock(order_id), admin)
    payment = await PaymentRepository(session).of_order(order_id)
    if payment is None:
        raise PaymentNotManualError("The order has no payment yet: it is still being placed.")
    if payment.provider != MANUAL:
        raise PaymentNotManualError(
            "Only a manual payment is marked paid by hand; this order is paid through"
            f" {payment.provider}, which says when it is paid."
        )
    if order.status == OrderStatus.CANCELLED:
        raise OrderCancelledError("The order is cancelled: it cannot be marked paid.")
    if order.payment_status == PaymentStatus.AWAITING:
        payment.status = PaymentState.SUCCEEDED
        payment.paid_at = datetime.now(UTC)
        order.payment_status = PaymentStatus.PAID
        money = format_money(payment.amount, order.currency)
        lifecycle.record(session, order, actor_of(admin), f"payment of {money} received")
        await emails.payment_received(session, order, payment.amount)
        await session.flush()
    return visible(await repository.full(order_id), admin)
