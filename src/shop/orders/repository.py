"""Queries of the orders service. Repositories only flush; the caller commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, TextClause, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shop.orders.models import Order, OrderStatus, PaymentStatus, StockState, order_number_seq

# Literals, not parameters, so that the partial index of unfinished orders applies.
PENDING = text("orders.status = 'pending'")
HELD_NOT_CANCELLED = text("orders.status <> 'cancelled' AND orders.stock_state = 'held'")
CANCELLED_NOT_RELEASED = text("orders.status = 'cancelled' AND orders.stock_state <> 'released'")

# What an order's answer shows besides the order (shop.orders.presenters).
ANSWERED = (
    selectinload(Order.lines),
    selectinload(Order.events),
    selectinload(Order.payment),
    selectinload(Order.refunds),
)


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_number(self) -> str:
        value = await self.session.scalar(select(order_number_seq.next_value()))
        return f"ORD-{int(value or 0):06d}"

    async def add(self, order: Order) -> Order:
        self.session.add(order)
        await self.session.flush()
        return order

    async def lock(self, order_id: uuid.UUID, *, with_history: bool = False) -> Order | None:
        """The order, its row locked until the transaction ends, read fresh; with its
        history loaded if asked (transitions then add to it)."""
        query = (
            select(Order)
            .where(Order.id == order_id)
            .with_for_update(of=Order)
            .execution_options(populate_existing=True)
        )
        if with_history:
            query = query.options(selectinload(Order.events))
        order: Order | None = await self.session.scalar(query)
        return order

    async def full(self, order_id: uuid.UUID) -> Order | None:
        """The order with what its answer shows loaded (lines, history, payment, refunds)."""
        query = (
            select(Order)
            .where(Order.id == order_id)
            .options(*ANSWERED)
            .execution_options(populate_existing=True)
        )
        order: Order | None = await self.session.scalar(query)
        return order

    async def page(
        self,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None = None,
        *,
        user_id: uuid.UUID | None = None,
        status: OrderStatus | None = None,
        payment_status: PaymentStatus | None = None,
        placed_only: bool = False,
    ) -> list[Order]:
        """Newest first by (created_at, id), with what their answers show loaded."""
        query = (
            select(Order)
            .options(*ANSWERED)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(Order.created_at, Order.id) < tuple_(*after))
        if user_id is not None:
            query = query.where(Order.user_id == user_id)
        if status is not None:
            query = query.where(Order.status == status)
        if payment_status is not None:
            query = query.where(Order.payment_status == payment_status)
        if placed_only:
            query = query.where(Order.placed.is_(True))
        return list(await self.session.scalars(query))

    async def status_of(self, order_id: uuid.UUID) -> OrderStatus | None:
        """The order's status as committed now (no lock)."""
        status: OrderStatus | None = await self.session.scalar(
            select(Order.status).where(Order.id == order_id)
        )
        return status

    async def lock_user(self, user_id: uuid.UUID) -> None:
        """A lock of the user's orders (a transaction-level advisory lock on the user's
        id), held until the transaction ends: placements of one user count their unpaid
        orders one after the other."""
        key = int.from_bytes(user_id.bytes[:8], "big", signed=True)
        await self.session.execute(select(func.pg_advisory_xact_lock(key)))

    async def count_unpaid_manual(self, user_id: uuid.UUID) -> int:
        """The user's manual orders not paid yet (and not cancelled), those being placed
        included."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.user_id == user_id,
                Order.payment_provider == "manual",
                Order.payment_status == PaymentStatus.AWAITING,
                Order.status != OrderStatus.CANCELLED,
            )
        )
        return int(count or 0)

    async def lock_overdue_pending(self, deadline_seconds: float, limit: int) -> list[Order]:
        """Pending orders older than the placement deadline, never placed, locked; others'
        locks skipped."""
        overdue = Order.created_at < func.now() - timedelta(seconds=deadline_seconds)
        # A placed order still pending awaits its payment: shop.orders.payments' business.
        return await self._lock_where(PENDING, overdue, Order.placed.is_(False), limit=limit)

    async def ids_to_commit(self, limit: int) -> list[uuid.UUID]:
        """Confirmed (not cancelled) orders whose units products still only holds; a
        pending order's held units await its payment."""
        not_pending = Order.status != OrderStatus.PENDING
        return await self._ids_where(HELD_NOT_CANCELLED, not_pending, limit=limit)

    async def ids_to_give_back(self, limit: int) -> list[uuid.UUID]:
        """Cancelled orders of which products may still hold (or have taken) units."""
        return await self._ids_where(CANCELLED_NOT_RELEASED, limit=limit)

    async def set_stock_state(
        self, order_id: uuid.UUID, state: StockState, *, when: ColumnElement[bool]
    ) -> bool:
        """Records what products now has for the order, if ``when`` still holds."""
        result = await self.session.execute(
            update(Order)
            .where(Order.id == order_id, when)
            .values(stock_state=state)
            .returning(Order.id)
        )
        return result.scalar_one_or_none() is not None

    async def _lock_where(
        self, *conditions: ColumnElement[bool] | TextClause, limit: int
    ) -> list[Order]:
        query = (
            select(Order)
            .where(*conditions)
            .order_by(Order.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return list(await self.session.scalars(query))

    async def _ids_where(
        self, *conditions: ColumnElement[bool] | TextClause, limit: int
    ) -> list[uuid.UUID]:
        query = select(Order.id).where(*conditions).order_by(Order.created_at).limit(limit)
        return list(await self.session.scalars(query))
