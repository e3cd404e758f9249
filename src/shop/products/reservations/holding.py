"""Holding stock for an order: reserve (and commit at once), commit, read."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.contracts.reservations import NotOrderableLine, ShortLine
from shop.products.cache import CatalogCache
from shop.products.errors import (
    InsufficientStockError,
    ProductsNotOrderableError,
    ReservationExpiredError,
    ReservationMismatchError,
    ReservationNotFoundError,
    ReservationReleasedError,
)
from shop.products.models import (
    Inventory,
    ProductStatus,
    ReservationLine,
    ReservationStatus,
    StockReason,
)
from shop.products.repositories import ProductRepository, ReservationRepository, StockRepository
from shop.products.reservations.rows import (
    ReservationView,
    ledger_row,
    stock_changed,
    stock_row,
    stored_view,
    view_of_rows,
)

log = structlog.get_logger("shop.products.reservations")


@dataclass(frozen=True)
class ReserveOutcome:
    reservation: ReservationView
    created: bool  # False: a replay of an earlier reserve


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
    reservations = ReservationRepository(session)
    status = ReservationStatus.COMMITTED if commit_now else ReservationStatus.HELD
    expires_at = await reservations.add_key(order_id, status, ttl)
    if expires_at is None:
        replayed = await _replay(reservations, order_id, requested)
        if commit_now and replayed.status == ReservationStatus.HELD:
            replayed = await commit(session, order_id, actor, cache, notify_search=notify_search)
        return ReserveOutcome(replayed, created=False)

    product_ids = sorted(requested)
    products = await ProductRepository(session).fresh_by_id(product_ids)
    refused: list[dict[str, Any]] = []
    for index, (product_id, _) in enumerate(lines):
        product = products.get(product_id)
        if product is None or product.status != ProductStatus.ACTIVE:
            reason = "unknown" if product is None else product.status.value
            refused.append(
                NotOrderableLine(
                    field=f"lines.{index}.product_id",
                    message="no such product"
                    if product is None
                    else f"the product is {reason}, not active",
                    product_id=product_id,
                    reason=reason,
                ).model_dump(mode="json")
            )
    if refused:
        raise ProductsNotOrderableError(
            "Some products do not exist or cannot be ordered; see errors.", errors=refused
        )

    stock_rows = StockRepository(session)
    stock = await stock_rows.lock_many(product_ids)
    short = [
        ShortLine(product_id=product_id, requested=quantity, available=available).model_dump(
            mode="json"
        )
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
            movement = ledger_row(
                product_id, order_id, actor, StockReason.COMMIT, on_hand=-quantity
            )
            movement.note = "reserved and committed at once"
        else:
            stock[product_id].reserved += quantity
            movement = ledger_row(
                product_id, order_id, actor, StockReason.RESERVATION, reserved=quantity
            )
        stock_rows.record(movement)
        line = ReservationLine(
            order_id=order_id,
            product_id=product_id,
            quantity=quantity,
            unit_price=product.price,
            currency=product.currency,
            name=product.name,
            sku=product.sku,
        )
        reservations.add_line(line)
        reserved_lines.append(line)
    await reservations.flush()
    await stock_changed(session, cache, product_ids, notify_search)
    # What was just written, in product order as view() reads it: no need to read it back.
    view = view_of_rows(order_id, status, expires_at, reserved_lines)
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
    reservations = ReservationRepository(session)
    found = await reservations.lock(order_id)
    if found is None:
        raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    reservation, expired = found
    if reservation.status == ReservationStatus.COMMITTED:
        return await stored_view(reservations, order_id)
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

    lines = await reservations.lines([order_id])
    stock_rows = StockRepository(session)
    stock = await stock_rows.lock_many(line.product_id for line in lines)
    for line in lines:
        row = stock_row(stock, line)
        row.on_hand -= line.quantity
        row.reserved -= line.quantity
        stock_rows.record(
            ledger_row(
                line.product_id,
                order_id,
                actor,
                StockReason.COMMIT,
                on_hand=-line.quantity,
                reserved=-line.quantity,
            )
        )
    reservation.status = ReservationStatus.COMMITTED
    await reservations.flush()
    await stock_changed(session, cache, [line.product_id for line in lines], notify_search)
    log.info("reservation committed", order_id=str(order_id))
    # The locked row and its lines, as just written: no need to read them back.
    return view_of_rows(order_id, reservation.status, reservation.expires_at, lines)


async def get_reservation(session: AsyncSession, order_id: uuid.UUID) -> ReservationView:
    reservations = ReservationRepository(session)
    if await reservations.get(order_id, fresh=True) is None:
        raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    return await stored_view(reservations, order_id)


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


async def _replay(
    reservations: ReservationRepository,
    order_id: uuid.UUID,
    requested: Mapping[uuid.UUID, int],
) -> ReservationView:
    """The stored answer to a repeated reserve, if it asks for the same lines."""
    view = await stored_view(reservations, order_id)
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
