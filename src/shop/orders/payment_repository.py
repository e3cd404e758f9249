"""Queries of payments and webhook events. Repositories only flush; the caller commits."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.orders.models import Order, OrderStatus
from shop.orders.payment_models import Payment, PaymentEvent, PaymentState

# Literals, not parameters, so that the partial index ix_payments_awaiting_online applies.
_ONLINE_AWAITING = (text("payments.status = 'awaiting' AND payments.provider <> 'manual'"),)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, payment: Payment) -> Payment:
        self.session.add(payment)
        await self.session.flush()
        return payment

    async def of_order(self, order_id: uuid.UUID, *, lock: bool = False) -> Payment | None:
        """The order's payment, read fresh; its row locked until the transaction ends if
        asked (lock the order first, as every use case does)."""
        query = (
            select(Payment)
            .where(Payment.order_id == order_id)
            .execution_options(populate_existing=True)
        )
        if lock:
            query = query.with_for_update()
        payment: Payment | None = await self.session.scalar(query)
        return payment

    async def order_of_ref(self, provider: str, ref: str) -> uuid.UUID | None:
        """The order whose payment the provider knows as ``ref``."""
        order_id: uuid.UUID | None = await self.session.scalar(
            select(Payment.order_id).where(
                Payment.provider == provider, Payment.provider_ref == ref
            )
        )
        return order_id

    async def record_event(self, provider: str, event_id: str, event_type: str) -> bool:
        """Records a webhook event; False if it was recorded before (seen: do nothing)."""
        result = await self.session.execute(
            insert(PaymentEvent)
            .values(provider=provider, event_id=event_id, type=event_type[:100])
            .on_conflict_do_nothing(index_elements=["provider", "event_id"])
            .returning(PaymentEvent.event_id)
        )
        return result.scalar_one_or_none() is not None

    async def forget_event(self, provider: str, event_id: str) -> None:
        """A webhook event not acted on after all: it is acted on when sent again."""
        await self.session.execute(
            delete(PaymentEvent).where(
                PaymentEvent.provider == provider, PaymentEvent.event_id == event_id
            )
        )

    async def orders_to_settle(self, older_than_seconds: float, limit: int) -> list[uuid.UUID]:
        """Pending orders whose online payment was not checked for this long (created,
        or last read back from the provider: ``updated_at``); the least recently checked
        first, so that every one gets its turn."""
        quiet = Payment.updated_at < func.now() - timedelta(seconds=older_than_seconds)
        query = (
            select(Payment.order_id)
            .join(Order, Order.id == Payment.order_id)
            .where(*_ONLINE_AWAITING, quiet, Order.status == OrderStatus.PENDING)
            .order_by(Payment.updated_at)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def orders_paid_unconfirmed(self, limit: int) -> list[uuid.UUID]:
        """Pending orders whose payment succeeded: a settlement stopped between its
        steps (a crash, products unreachable) and is to be finished."""
        query = (
            select(Payment.order_id)
            .join(Order, Order.id == Payment.order_id)
            .where(Payment.status == PaymentState.SUCCEEDED, Order.status == OrderStatus.PENDING)
            .order_by(Payment.created_at)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def orders_lapsed(self, limit: int) -> list[uuid.UUID]:
        """Pending orders whose payment still awaits past its hold: to be cancelled
        (unless the provider says it was paid meanwhile)."""
        query = (
            select(Payment.order_id)
            .join(Order, Order.id == Payment.order_id)
            .where(
                *_ONLINE_AWAITING,
                Payment.hold_expires_at < func.now(),
                Order.status == OrderStatus.PENDING,
            )
            .order_by(Payment.hold_expires_at)
            .limit(limit)
        )
        return list(await self.session.scalars(query))
