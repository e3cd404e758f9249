"""Queries of reservations and their lines."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.dialects.postgresql import insert

from shop.products.models import Reservation, ReservationLine, ReservationStatus
from shop.products.repositories.base import Repository

_HELD = Reservation.status == ReservationStatus.HELD
# Each one reads only held reservations, through their partial index.
_HELD_NOW = select(
    select(func.count()).select_from(Reservation).where(_HELD).scalar_subquery(),
    select(func.coalesce(func.sum(ReservationLine.quantity), 0))
    .join(Reservation, Reservation.order_id == ReservationLine.order_id)
    .where(_HELD)
    .scalar_subquery(),
    select(func.count())
    .select_from(Reservation)
    .where(_HELD, Reservation.expires_at < func.now())
    .scalar_subquery(),
)


class ReservationRepository(Repository[Reservation]):
    model = Reservation

    async def add_key(
        self, order_id: uuid.UUID, status: ReservationStatus, ttl: timedelta
    ) -> datetime | None:
        """Inserts the order's reservation unless it has one (a concurrent insert waits
        for the first to end); its expiry if this call made it, else None."""
        new_key = await self.session.execute(
            insert(Reservation)
            .values(order_id=order_id, status=status, expires_at=func.now() + ttl)
            .on_conflict_do_nothing(index_elements=[Reservation.order_id])
            .returning(Reservation.expires_at)
        )
        return new_key.scalar_one_or_none()

    async def add_tombstone(self, order_id: uuid.UUID) -> bool:
        """A released reservation without lines, unless the order has one; whether made."""
        tombstone = await self.session.execute(
            insert(Reservation)
            .values(order_id=order_id, status=ReservationStatus.RELEASED, expires_at=func.now())
            .on_conflict_do_nothing(index_elements=[Reservation.order_id])
            .returning(Reservation.order_id)
        )
        return tombstone.scalar_one_or_none() is not None

    async def lock(self, order_id: uuid.UUID) -> tuple[Reservation, bool] | None:
        """The reservation, locked, and whether it is past its expiry (database clock)."""
        row = (
            await self.session.execute(
                select(Reservation, (Reservation.expires_at <= func.now()).label("expired"))
                .where(Reservation.order_id == order_id)
                .with_for_update(of=Reservation)
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        if row is None:
            return None
        return row[0], bool(row[1])

    async def lock_due(self, now: datetime | None, limit: int) -> list[Reservation]:
        """Up to ``limit`` held reservations expired at ``now`` (default: the database's
        clock), soonest first, locked; rows another transaction has locked are skipped."""
        due_now: ColumnElement[bool] = (
            Reservation.expires_at <= func.now() if now is None else Reservation.expires_at <= now
        )
        return list(
            await self.session.scalars(
                select(Reservation)
                # A literal, not a parameter, so that the partial index on held rows applies.
                .where(text("reservations.status = 'held'"), due_now)
                .order_by(Reservation.expires_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        )

    async def lines(self, order_ids: Sequence[uuid.UUID]) -> list[ReservationLine]:
        """The lines of these orders' reservations, by order, then by variant; read fresh."""
        return list(
            await self.session.scalars(
                select(ReservationLine)
                .where(ReservationLine.order_id.in_(order_ids))
                .order_by(ReservationLine.order_id, ReservationLine.variant_id)
                .execution_options(populate_existing=True)
            )
        )

    def add_line(self, line: ReservationLine) -> None:
        self.session.add(line)

    async def held_now(self) -> tuple[int, int, int]:
        """Held reservations, the units they hold, and how many of them are past expiry."""
        held, units, expired = (await self.session.execute(_HELD_NOW)).one()
        return int(held), int(units), int(expired)
