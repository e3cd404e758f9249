"""Giving stock back: release a hold, restock a cancelled order, sweep expired holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shop.products.cache import CatalogCache
from shop.products.errors import ReservationCommittedError, ReservationNotFoundError
from shop.products.models import Reservation, ReservationStatus, StockReason
from shop.products.repositories import ReservationRepository, StockRepository
from shop.products.reservations.rows import (
    ReservationView,
    ledger_row,
    stock_changed,
    stock_row,
    stored_view,
)

SWEEPER_ACTOR = "system:reservation-sweeper"

log = structlog.get_logger("shop.products.reservations")


async def release(
    session: AsyncSession,
    order_id: uuid.UUID,
    actor: str,
    reason: StockReason = StockReason.RELEASE,
    cache: CatalogCache | None = None,
    *,
    notify_search: bool = True,
) -> ReservationView:
    """Held → released: ``reserved`` drops. Releasing again answers the same; a
    committed reservation is a 409. An order id without a reservation gets a
    released one without lines (a tombstone), so a reserve arriving late is refused."""
    reservations = ReservationRepository(session)
    found = await reservations.lock(order_id)
    if found is None:
        if await reservations.add_tombstone(order_id):
            log.info("release before reserve: tombstone recorded", order_id=str(order_id))
            return await stored_view(reservations, order_id)
        # A reserve for this order committed meanwhile: release what it holds.
        found = await reservations.lock(order_id)
        if found is None:  # pragma: no cover - reservations are never deleted
            raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    reservation, _ = found
    if reservation.status == ReservationStatus.RELEASED:
        return await stored_view(reservations, order_id)
    if reservation.status == ReservationStatus.COMMITTED:
        raise ReservationCommittedError(
            "The reservation was committed; its stock has left the shelf.",
            order_id=str(order_id),
            reservation_status=reservation.status.value,
        )
    released = await _release_held(session, [reservation], reason, actor)
    await stock_changed(session, cache, released, notify_search)
    log.info("reservation released", order_id=str(order_id), reason=reason.value)
    return await stored_view(reservations, order_id)


async def restock(
    session: AsyncSession,
    order_id: uuid.UUID,
    actor: str,
    cache: CatalogCache | None = None,
    *,
    notify_search: bool = True,
) -> ReservationView:
    """Gives back all of a cancelled order's units: a held reservation is released (as
    :func:`release` does, tombstone included), a committed one's units go back on the
    shelf (``on_hand`` rises) and it is marked released. Doing it again answers the same."""
    reservations = ReservationRepository(session)
    found = await reservations.lock(order_id)
    if found is None or found[0].status != ReservationStatus.COMMITTED:
        return await release(session, order_id, actor, cache=cache, notify_search=notify_search)
    reservation, _ = found
    lines = await reservations.lines([order_id])
    stock_rows = StockRepository(session)
    stock = await stock_rows.lock_many(line.variant_id for line in lines)
    for line in lines:
        stock_row(stock, line).on_hand += line.quantity
        movement = ledger_row(
            line.product_id,
            line.variant_id,
            order_id,
            actor,
            StockReason.RELEASE,
            on_hand=line.quantity,
        )
        movement.note = "returned to stock: the order was cancelled"
        stock_rows.record(movement)
    reservation.status = ReservationStatus.RELEASED
    await reservations.flush()
    await stock_changed(session, cache, {line.product_id for line in lines}, notify_search)
    log.info("committed reservation returned to stock", order_id=str(order_id))
    return await stored_view(reservations, order_id)


async def sweep_expired(
    session: AsyncSession,
    now: datetime | None = None,
    limit: int = 100,
    cache: CatalogCache | None = None,
    actor: str = SWEEPER_ACTOR,
    *,
    notify_search: bool = True,
) -> int:
    """Releases up to ``limit`` held reservations whose ``expires_at`` is at or before
    ``now`` (default: the database's clock) and returns how many. Rows another
    transaction has locked are skipped, so any number of sweepers may run at once."""
    due = await ReservationRepository(session).lock_due(now, limit)
    if not due:
        return 0
    released = await _release_held(session, due, StockReason.EXPIRY, actor)
    await stock_changed(session, cache, released, notify_search)
    log.info("expired reservations released", count=len(due))
    return len(due)


async def _release_held(
    session: AsyncSession, reservations: Sequence[Reservation], reason: StockReason, actor: str
) -> set[uuid.UUID]:
    """Gives back the units of held ``reservations`` (already locked) and marks them
    released; returns the products whose stock changed."""
    lines = await ReservationRepository(session).lines([r.order_id for r in reservations])
    stock_rows = StockRepository(session)
    stock = await stock_rows.lock_many(line.variant_id for line in lines)
    for line in lines:
        stock_row(stock, line).reserved -= line.quantity
        stock_rows.record(
            ledger_row(
                line.product_id,
                line.variant_id,
                line.order_id,
                actor,
                reason,
                reserved=-line.quantity,
            )
        )
    for reservation in reservations:
        reservation.status = ReservationStatus.RELEASED
    await stock_rows.flush()
    return {line.product_id for line in lines}
