"""Queries of refunds (with the payment each gives money back from). Only flushes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import ColumnElement, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shop.orders.models import Order
from shop.orders.payment_models import Payment, Refund, RefundStatus

# Literals, not parameters, so that the partial indexes ix_refunds_pending and
# ix_orders_cancelled_paid apply.
PENDING = text("refunds.status = 'pending'")
CANCELLED_PAID = text(
    "orders.status = 'cancelled' AND orders.payment_status IN ('paid', 'partially_refunded')"
)


class RefundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, refund: Refund) -> Refund:
        self.session.add(refund)
        await self.session.flush()
        return refund

    async def not_failed_total(self, order_id: uuid.UUID) -> int:
        """What the order's refunds give back or may still give back (pending ones)."""
        return await self._total(order_id, Refund.status != RefundStatus.FAILED)

    async def succeeded_total(self, order_id: uuid.UUID) -> int:
        return await self._total(order_id, Refund.status == RefundStatus.SUCCEEDED)

    async def _total(self, order_id: uuid.UUID, condition: ColumnElement[bool]) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.order_id == order_id, condition
            )
        )
        return int(total or 0)

    async def of_order(self, order_id: uuid.UUID, refund_id: uuid.UUID) -> Refund | None:
        refund: Refund | None = await self.session.scalar(
            select(Refund).where(Refund.id == refund_id, Refund.order_id == order_id)
        )
        return refund

    async def order_of(self, refund_id: uuid.UUID) -> uuid.UUID | None:
        order_id: uuid.UUID | None = await self.session.scalar(
            select(Refund.order_id).where(Refund.id == refund_id)
        )
        return order_id

    async def with_payment(
        self, refund_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[Refund, Payment] | None:
        """The refund (its row locked if asked; take the order's lock first) and its
        payment, read fresh."""
        query = (
            select(Refund, Payment)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(Refund.id == refund_id)
            .execution_options(populate_existing=True)
        )
        if lock:
            query = query.with_for_update(of=Refund)
        row = (await self.session.execute(query)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def stale_pending_ids(self, older_than_seconds: float, limit: int) -> list[uuid.UUID]:
        """Refunds still pending after ``older_than_seconds``: their request is gone."""
        query = (
            select(Refund.id)
            .where(
                PENDING,
                Refund.created_at < func.now() - timedelta(seconds=older_than_seconds),
            )
            .order_by(Refund.created_at)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def cancelled_still_paid(self, limit: int) -> list[uuid.UUID]:
        """Cancelled orders that keep money (paid or partly refunded) with no refund
        under way, and none refused by the provider (those are for an admin to see)."""
        under_way_or_refused = exists().where(
            Refund.order_id == Order.id,
            Refund.status.in_([RefundStatus.PENDING, RefundStatus.FAILED]),
        )
        query = (
            select(Order.id)
            .where(
                CANCELLED_PAID,
                ~under_way_or_refused,
            )
            .order_by(Order.updated_at)
            .limit(limit)
        )
        return list(await self.session.scalars(query))
