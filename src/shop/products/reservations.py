"""Stock reservations for orders: reserve, commit, release, restock, and the expiry sweep.

The use cases take the request's session and only ``flush``: the session
dependency commits (or rolls back when one of them raises, so a refused
reservation leaves nothing behind). Each one that changes stock schedules, for
after the commit, the invalidation of the cached reads of the products it
touched (available stock is part of every product read; see
:mod:`shop.products.cache`), and puts one ``product.changed`` per product in the
outbox in its transaction, for the search index's ``available`` (unless
``notify_search`` is false: the PostgreSQL backend, whose handler does nothing).

Concurrency. Rows are always locked in one order, so two transactions never
wait for each other in a cycle: first the reservation's row (a new key for a
reserve, ``FOR UPDATE`` otherwise, ``SKIP LOCKED`` for the sweeper), then the
inventory rows of its products ``ORDER BY product_id FOR UPDATE``. Stock is
checked and changed under those locks, and the database's CHECK constraints
(``0 <= reserved <= on_hand``) refuse an oversell even if the code were wrong.

Idempotency. A reservation is keyed by the order's id. ``reserve`` first
inserts that key with ``ON CONFLICT DO NOTHING``: a concurrent reserve for the
same order waits on the key until the first commits (and then replays its
result) or rolls back (and then tries itself), so exactly one reservation is
ever made. A replay returns the stored reservation (lines, prices and expiry
as first answered, whatever changed in the catalog since) if it asks for the
same lines; different lines are a 409 (``reservation-mismatch``): an order's
lines are fixed, so they can only mean a caller's bug.

At once. ``reserve(..., commit_now=True)`` (``commit: true`` in the API) takes
the units off the shelf in the reserve's own transaction: the reservation is
written ``committed`` and ``on_hand`` drops, as a reserve and a commit would
leave them, with one ``commit`` ledger row per line. The orders service places
orders so: one call, and no hold that could lapse before its commit.

Release before reserve. Releasing an order id that has no reservation records
a *tombstone*: a released reservation without lines. The orders service's
reconciler may cancel an order whose reserve call is still on its way; when
that call arrives, it finds the order released and is refused (409
``reservation-released``) instead of holding stock nobody will ever release.

Expiry. A held reservation is good until ``expires_at``. After that it can no
longer be committed (409 ``reservation-expired``), whether or not the sweeper
has released it yet; it can still be released.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.errors import ConflictError, NotFoundError, ShopError
from shop.products.cache import CatalogCache
from shop.products.changes import product_changed
from shop.products.models import (
    Inventory,
    Product,
    ProductStatus,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockMovement,
    StockReason,
)

SWEEPER_ACTOR = "system:reservation-sweeper"

log = structlog.get_logger("shop.products.reservations")


# --- Errors -----------------------------------------------------------------------


class ProductsNotOrderableError(ShopError):
    """Some lines name products that do not exist or are not ``active``."""

    status = 422
    title = "Products not orderable"
    type_slug = "products-not-orderable"


class InsufficientStockError(ConflictError):
    """Some lines ask for more than is available; ``errors`` lists every one of them."""

    title = "Insufficient stock"
    type_slug = "insufficient-stock"


class ReservationNotFoundError(NotFoundError):
    title = "Reservation not found"
    type_slug = "reservation-not-found"


class ReservationMismatchError(ConflictError):
    title = "Reservation mismatch"
    type_slug = "reservation-mismatch"


class ReservationReleasedError(ConflictError):
    title = "Reservation released"
    type_slug = "reservation-released"


class ReservationExpiredError(ConflictError):
    title = "Reservation expired"
    type_slug = "reservation-expired"


class ReservationCommittedError(ConflictError):
    title = "Reservation committed"
    type_slug = "reservation-committed"


# --- Results ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReservedLine:
    product_id: uuid.UUID
    sku: str
    name: str
    unit_price: int
    currency: str
    quantity: int


@dataclass(frozen=True)
class ReservationView:
    order_id: uuid.UUID
    status: ReservationStatus
    expires_at: datetime
    lines: tuple[ReservedLine, ...]


@dataclass(frozen=True)
class ReserveOutcome:
    reservation: ReservationView
    created: bool  # False: a replay of an earlier reserve


# --- Use cases --------------------------------------------------------------------


async def reserve(
    session: AsyncSession,
    order_id: uuid.UUID,
    lines: Sequence[tuple[uuid.UUID, int]],
    ttl: timedelta,
    actor: str,
    cache: CatalogCache | None = None,
    *,
    notify_search: bool = True,
    commit_now: bool = False,
) -> ReserveOutcome:
    """Holds every line's quantity for ``order_id``, or nothing.

    ``lines`` are ``(product_id, quantity)`` pairs, each product once. Unknown or
    non-active products: :class:`ProductsNotOrderableError` (422). Any line short
    of stock: :class:`InsufficientStockError` (409) listing every short line. The
    error leaves the reservation's key behind in the session; the caller's rollback
    removes it with everything else.

    ``commit_now``: the units leave the shelf at once (``on_hand`` drops), as a
    reserve followed by :func:`commit` would leave them, in one transaction. A
    replay of a reservation still held commits it then.
    """
    requested = _requested(lines)
    status = ReservationStatus.COMMITTED if commit_now else ReservationStatus.HELD
    new_key = await session.execute(
        insert(Reservation)
        .values(order_id=order_id, status=status, expires_at=func.now() + ttl)
        .on_conflict_do_nothing(index_elements=[Reservation.order_id])
        .returning(Reservation.expires_at)
    )
    expires_at = new_key.scalar_one_or_none()
    if expires_at is None:
        replayed = await _replay(session, order_id, requested)
        if commit_now and replayed.status == ReservationStatus.HELD:
            replayed = await commit(session, order_id, actor, cache, notify_search=notify_search)
        return ReserveOutcome(replayed, created=False)

    product_ids = sorted(requested)
    products = {
        product.id: product
        for product in await session.scalars(
            select(Product)
            .where(Product.id.in_(product_ids))
            .execution_options(populate_existing=True)
        )
    }
    refused: list[dict[str, Any]] = []
    for index, (product_id, _) in enumerate(lines):
        product = products.get(product_id)
        if product is None or product.status != ProductStatus.ACTIVE:
            reason = "unknown" if product is None else product.status.value
            refused.append(
                {
                    "field": f"lines.{index}.product_id",
                    "message": "no such product"
                    if product is None
                    else f"the product is {reason}, not active",
                    "product_id": str(product_id),
                    "reason": reason,
                }
            )
    if refused:
        raise ProductsNotOrderableError(
            "Some products do not exist or cannot be ordered; see errors.", errors=refused
        )

    stock = await _lock_inventory(session, product_ids)
    short = [
        {"product_id": str(product_id), "requested": quantity, "available": available}
        for product_id, quantity in requested.items()
        if quantity > (available := _available(stock.get(product_id)))
    ]
    if short:
        raise InsufficientStockError(
            "Not enough stock for some lines; nothing was reserved.", errors=short
        )

    reserved_lines = []
    for product_id in product_ids:
        quantity, product = requested[product_id], products[product_id]
        if commit_now:
            stock[product_id].on_hand -= quantity
            movement = _movement(product_id, order_id, actor, StockReason.COMMIT, on_hand=-quantity)
            movement.note = "reserved and committed at once"
        else:
            stock[product_id].reserved += quantity
            movement = _movement(
                product_id, order_id, actor, StockReason.RESERVATION, reserved=quantity
            )
        session.add(movement)
        line = ReservationLine(
            order_id=order_id,
            product_id=product_id,
            quantity=quantity,
            unit_price=product.price,
            currency=product.currency,
            name=product.name,
            sku=product.sku,
        )
        session.add(line)
        reserved_lines.append(line)
    await session.flush()
    await _stock_changed(session, cache, product_ids, notify_search)
    # What was just written, in product order as _view reads it: no need to read it back.
    view = _view_of(order_id, status, expires_at, reserved_lines)
    log.info("stock reserved", order_id=str(order_id), lines=len(product_ids), status=status)
    return ReserveOutcome(view, created=True)


async def commit(
    session: AsyncSession,
    order_id: uuid.UUID,
    actor: str,
    cache: CatalogCache | None = None,
    *,
    notify_search: bool = True,
) -> ReservationView:
    """Held → committed: the units leave the shelf (``on_hand`` and ``reserved`` drop).
    Committing again answers the same; a released or expired reservation is a 409."""
    found = await _lock_reservation(session, order_id)
    if found is None:
        raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    reservation, expired = found
    if reservation.status == ReservationStatus.COMMITTED:
        return await _view(session, order_id)
    if reservation.status == ReservationStatus.RELEASED:
        raise ReservationReleasedError(
            "The reservation was released; it cannot be committed.",
            order_id=str(order_id),
            reservation_status=reservation.status.value,
        )
    if expired:
        raise ReservationExpiredError(
            "The reservation has expired; it cannot be committed.",
            order_id=str(order_id),
            reservation_status=reservation.status.value,
        )

    lines = await _lines(session, [order_id])
    stock = await _lock_inventory(session, {line.product_id for line in lines})
    for line in lines:
        row = _stock_row(stock, line)
        row.on_hand -= line.quantity
        row.reserved -= line.quantity
        session.add(
            _movement(
                line.product_id,
                order_id,
                actor,
                StockReason.COMMIT,
                on_hand=-line.quantity,
                reserved=-line.quantity,
            )
        )
    reservation.status = ReservationStatus.COMMITTED
    await session.flush()
    await _stock_changed(session, cache, [line.product_id for line in lines], notify_search)
    log.info("reservation committed", order_id=str(order_id))
    # The locked row and its lines, as just written: no need to read them back.
    return _view_of(order_id, reservation.status, reservation.expires_at, lines)


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
    found = await _lock_reservation(session, order_id)
    if found is None:
        tombstone = await session.execute(
            insert(Reservation)
            .values(order_id=order_id, status=ReservationStatus.RELEASED, expires_at=func.now())
            .on_conflict_do_nothing(index_elements=[Reservation.order_id])
            .returning(Reservation.order_id)
        )
        if tombstone.scalar_one_or_none() is not None:
            log.info("release before reserve: tombstone recorded", order_id=str(order_id))
            return await _view(session, order_id)
        # A reserve for this order committed meanwhile: release what it holds.
        found = await _lock_reservation(session, order_id)
        if found is None:  # pragma: no cover - reservations are never deleted
            raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    reservation, _ = found
    if reservation.status == ReservationStatus.RELEASED:
        return await _view(session, order_id)
    if reservation.status == ReservationStatus.COMMITTED:
        raise ReservationCommittedError(
            "The reservation was committed; its stock has left the shelf.",
            order_id=str(order_id),
            reservation_status=reservation.status.value,
        )
    released = await _release_held(session, [reservation], reason, actor)
    await _stock_changed(session, cache, released, notify_search)
    log.info("reservation released", order_id=str(order_id), reason=reason.value)
    return await _view(session, order_id)


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
    found = await _lock_reservation(session, order_id)
    if found is None or found[0].status != ReservationStatus.COMMITTED:
        return await release(session, order_id, actor, cache=cache, notify_search=notify_search)
    reservation, _ = found
    lines = await _lines(session, [order_id])
    stock = await _lock_inventory(session, {line.product_id for line in lines})
    for line in lines:
        _stock_row(stock, line).on_hand += line.quantity
        movement = _movement(
            line.product_id, order_id, actor, StockReason.RELEASE, on_hand=line.quantity
        )
        movement.note = "returned to stock: the order was cancelled"
        session.add(movement)
    reservation.status = ReservationStatus.RELEASED
    await session.flush()
    await _stock_changed(session, cache, [line.product_id for line in lines], notify_search)
    log.info("committed reservation returned to stock", order_id=str(order_id))
    return await _view(session, order_id)


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
    due_now: ColumnElement[bool] = (
        Reservation.expires_at <= func.now() if now is None else Reservation.expires_at <= now
    )
    due = list(
        await session.scalars(
            select(Reservation)
            # A literal, not a parameter, so that the partial index on held rows applies.
            .where(text("reservations.status = 'held'"), due_now)
            .order_by(Reservation.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    if not due:
        return 0
    released = await _release_held(session, due, StockReason.EXPIRY, actor)
    await _stock_changed(session, cache, released, notify_search)
    log.info("expired reservations released", count=len(due))
    return len(due)


async def get_reservation(session: AsyncSession, order_id: uuid.UUID) -> ReservationView:
    if await session.get(Reservation, order_id, populate_existing=True) is None:
        raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    return await _view(session, order_id)


# --- Helpers ----------------------------------------------------------------------


def _requested(lines: Sequence[tuple[uuid.UUID, int]]) -> dict[uuid.UUID, int]:
    requested: dict[uuid.UUID, int] = {}
    for product_id, quantity in lines:
        if product_id in requested:
            raise ValueError(f"product {product_id} is listed twice")
        if quantity <= 0:
            raise ValueError("quantities must be positive")
        requested[product_id] = quantity
    if not requested:
        raise ValueError("a reservation needs at least one line")
    return requested


def _available(row: Inventory | None) -> int:
    return 0 if row is None else max(0, row.available)


def _movement(
    product_id: uuid.UUID,
    order_id: uuid.UUID,
    actor: str,
    reason: StockReason,
    *,
    on_hand: int = 0,
    reserved: int = 0,
) -> StockMovement:
    return StockMovement(
        product_id=product_id,
        on_hand_delta=on_hand,
        reserved_delta=reserved,
        reason=reason,
        actor=actor,
        order_id=order_id,
        note="",
    )


async def _stock_changed(
    session: AsyncSession,
    cache: CatalogCache | None,
    product_ids: Iterable[uuid.UUID],
    notify_search: bool,
) -> None:
    """The stock of ``product_ids`` changed in this transaction: their cached reads go
    after the commit, and the search index hears of each (once per transaction)."""
    changed = set(product_ids)
    if not changed:
        return
    if cache is not None:
        cache.stock_changed_after_commit(session, changed)
    if notify_search:
        await product_changed(session, changed)


def _stock_row(stock: Mapping[uuid.UUID, Inventory], line: ReservationLine) -> Inventory:
    row = stock.get(line.product_id)
    if row is None:  # pragma: no cover - inventory outlives every reservation line
        raise RuntimeError(f"no inventory row for product {line.product_id}")
    return row


async def _lock_inventory(
    session: AsyncSession, product_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Inventory]:
    """The inventory rows of ``product_ids``, locked in product order (the stable order
    every transaction uses, so that none waits for another in a cycle), read fresh."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = await session.scalars(
        select(Inventory)
        .where(Inventory.product_id.in_(ids))
        .order_by(Inventory.product_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.product_id: row for row in rows}


async def _lock_reservation(
    session: AsyncSession, order_id: uuid.UUID
) -> tuple[Reservation, bool] | None:
    """The reservation, locked, and whether it is past its expiry (database clock)."""
    row = (
        await session.execute(
            select(Reservation, (Reservation.expires_at <= func.now()).label("expired"))
            .where(Reservation.order_id == order_id)
            .with_for_update(of=Reservation)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        return None
    return row[0], bool(row[1])


async def _lines(session: AsyncSession, order_ids: Sequence[uuid.UUID]) -> list[ReservationLine]:
    return list(
        await session.scalars(
            select(ReservationLine)
            .where(ReservationLine.order_id.in_(order_ids))
            .order_by(ReservationLine.order_id, ReservationLine.product_id)
            .execution_options(populate_existing=True)
        )
    )


async def _release_held(
    session: AsyncSession, reservations: Sequence[Reservation], reason: StockReason, actor: str
) -> set[uuid.UUID]:
    """Gives back the units of held ``reservations`` (already locked) and marks them
    released; returns the products whose stock changed."""
    lines = await _lines(session, [r.order_id for r in reservations])
    stock = await _lock_inventory(session, {line.product_id for line in lines})
    for line in lines:
        _stock_row(stock, line).reserved -= line.quantity
        session.add(
            _movement(line.product_id, line.order_id, actor, reason, reserved=-line.quantity)
        )
    for reservation in reservations:
        reservation.status = ReservationStatus.RELEASED
    await session.flush()
    return {line.product_id for line in lines}


async def _view(session: AsyncSession, order_id: uuid.UUID) -> ReservationView:
    reservation = await session.get(Reservation, order_id, populate_existing=True)
    if reservation is None:  # pragma: no cover - callers know it exists
        raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    lines = await _lines(session, [order_id])
    return _view_of(reservation.order_id, reservation.status, reservation.expires_at, lines)


def _view_of(
    order_id: uuid.UUID,
    status: ReservationStatus,
    expires_at: datetime,
    lines: Sequence[ReservationLine],
) -> ReservationView:
    """``lines`` in product order (as :func:`_lines` reads them)."""
    return ReservationView(
        order_id=order_id,
        status=status,
        expires_at=expires_at,
        lines=tuple(
            ReservedLine(
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                unit_price=line.unit_price,
                currency=line.currency,
                quantity=line.quantity,
            )
            for line in lines
        ),
    )


async def _replay(
    session: AsyncSession, order_id: uuid.UUID, requested: Mapping[uuid.UUID, int]
) -> ReservationView:
    """The stored answer to a repeated reserve, if it asks for the same lines."""
    view = await _view(session, order_id)
    if view.status == ReservationStatus.RELEASED:
        raise ReservationReleasedError(
            "This order's reservation was released; it cannot hold stock again.",
            order_id=str(order_id),
            reservation_status=view.status.value,
        )
    stored: dict[uuid.UUID, int] = defaultdict(int)
    for line in view.lines:
        stored[line.product_id] += line.quantity
    if dict(stored) != dict(requested):
        raise ReservationMismatchError(
            "This order already has a reservation with other lines.",
            order_id=str(order_id),
            reservation_status=view.status.value,
        )
    return view
