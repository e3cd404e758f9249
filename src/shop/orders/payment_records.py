"""An order's payment row and its ``payment_status``, written in the transaction that
places the order (shop.orders.placement): one place that says what a new payment is."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from shop.orders.errors import TooManyUnpaidOrdersError
from shop.orders.models import Order, PaymentStatus
from shop.orders.payment_models import Payment, PaymentState
from shop.orders.payment_repository import PaymentRepository
from shop.orders.repository import OrderRepository


async def check_unpaid(session: AsyncSession, user_id: uuid.UUID, most: int) -> None:
    """At most ``most`` unpaid manual orders a user (409 beyond), checked in the
    transaction that records a new one. Counted under a lock of the user's, held until
    that transaction ends, so that concurrent placements are counted one after the
    other and cannot together go past it."""
    repository = OrderRepository(session)
    await repository.lock_user(user_id)
    if await repository.count_unpaid_manual(user_id) >= most:
        raise TooManyUnpaidOrdersError(
            f"You have {most} orders awaiting payment; pay one of them before ordering again.",
            max_unpaid_orders=most,
        )


async def record_payment(
    session: AsyncSession,
    order: Order,
    *,
    ref: str | None = None,
    client_secret: str | None = None,
    hold_expires_at: datetime | None = None,
) -> Payment:
    """The priced order's payment by its provider (``order.payment_provider``):
    awaiting, or nothing to collect for a total of 0 (``not_required``, the payment
    ``succeeded`` at once). The order answers with it (its ``payment`` and ``refunds``
    are set as loaded)."""
    nothing_owed = order.total == 0
    payment = Payment(
        order_id=order.id,
        provider=order.payment_provider,
        provider_ref=ref,
        client_secret=client_secret,
        status=PaymentState.SUCCEEDED if nothing_owed else PaymentState.AWAITING,
        amount=order.total,
        currency=order.currency or "XXX",
        hold_expires_at=hold_expires_at,
    )
    order.payment_status = PaymentStatus.NOT_REQUIRED if nothing_owed else PaymentStatus.AWAITING
    await PaymentRepository(session).add(payment)
    set_committed_value(order, "payment", payment)
    set_committed_value(order, "refunds", [])
    return payment
