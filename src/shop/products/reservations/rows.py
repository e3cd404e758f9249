"""What the reservation use cases share: ledger rows, the stock they lock, and the
reservation as the API answers it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.contracts.reservations import ReservationLineOut
from shop.products.cache import CatalogCache
from shop.products.changes import announce
from shop.products.errors import ReservationNotFoundError
from shop.products.models import (
    Inventory,
    ReservationLine,
    ReservationStatus,
    StockMovement,
    StockReason,
)
from shop.products.repositories import ReservationRepository


@dataclass(frozen=True)
class ReservationView:
    """A reservation as the use cases answer it (the API's ``ReservationOut``)."""

    order_id: uuid.UUID
    status: ReservationStatus
    expires_at: datetime
    lines: tuple[ReservationLineOut, ...]


def ledger_row(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    order_id: uuid.UUID,
    actor: str,
    reason: StockReason,
    *,
    on_hand: int = 0,
    reserved: int = 0,
) -> StockMovement:
    return StockMovement(
        product_id=product_id,
        variant_id=variant_id,
        on_hand_delta=on_hand,
        reserved_delta=reserved,
        reason=reason,
        actor=actor,
        order_id=order_id,
        note="",
    )


async def stock_changed(
    session: AsyncSession,
    cache: CatalogCache | None,
    product_ids: Iterable[uuid.UUID],
    notify_search: bool,
) -> None:
    """The stock of ``product_ids`` changed in this transaction (see the package's doc)."""
    await announce(session, cache, product_ids, stock_only=True, notify_search=notify_search)


def stock_row(stock: Mapping[uuid.UUID, Inventory], line: ReservationLine) -> Inventory:
    """The inventory row of the line's variant (``stock`` is by variant id)."""
    row = stock.get(line.variant_id)
    if row is None:  # pragma: no cover - inventory outlives every reservation line
        raise RuntimeError(f"no inventory row for variant {line.variant_id}")
    return row


async def stored_view(reservations: ReservationRepository, order_id: uuid.UUID) -> ReservationView:
    reservation = await reservations.get(order_id, fresh=True)
    if reservation is None:  # pragma: no cover - callers know it exists
        raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    lines = await reservations.lines([order_id])
    return view_of_rows(reservation.order_id, reservation.status, reservation.expires_at, lines)


def view_of_rows(
    order_id: uuid.UUID,
    status: ReservationStatus,
    expires_at: datetime,
    lines: Sequence[ReservationLine],
) -> ReservationView:
    """``lines`` in variant order (as ReservationRepository.lines reads them)."""
    return ReservationView(
        order_id=order_id,
        status=status,
        expires_at=expires_at,
        lines=tuple(
            ReservationLineOut.model_validate(line, from_attributes=True) for line in lines
        ),
    )
