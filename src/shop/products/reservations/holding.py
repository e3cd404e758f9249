"""Holding stock for an order: reserve (and commit at once), commit, read."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.contracts.reservations import NotOrderableLine, ReservationLineOut, ShortLine
from shop.products.cache import CatalogCache
from shop.products.errors import (
    InsufficientStockError,
    ProductsNotOrderableError,
    ReservationExpiredError,
    ReservationMismatchError,
    ReservationNotFoundError,
    ReservationReleasedError,
    VariantRequiredError,
)
from shop.products.models import (
    Inventory,
    Product,
    ProductStatus,
    ProductVariant,
    ReservationLine,
    ReservationStatus,
    StockReason,
    VariantStatus,
)
from shop.products.repositories import (
    ProductRepository,
    ReservationRepository,
    StockRepository,
    VariantRepository,
)
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


@dataclass(frozen=True)
class WantedLine:
    """A line asked for: a variant, or a product's only active variant."""

    quantity: int
    product_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = None


Wanted = WantedLine | tuple[uuid.UUID, int]  # a pair: (product_id, quantity)


async def reserve(
    session: AsyncSession,
    order_id: uuid.UUID,
    lines: Sequence[Wanted],
    ttl: timedelta,
    actor: str,
    cache: CatalogCache | None = None,
    *,
    notify_search: bool = True,
    commit_now: bool = False,
) -> ReserveOutcome:
    """Holds every line's quantity for ``order_id``, or nothing.

    ``lines`` name variants (or products with a single active variant), each variant
    once. Unknown or non-active products or variants: :class:`ProductsNotOrderableError`
    (422). A product named alone that has several variants:
    :class:`VariantRequiredError` (422). Any line short of stock:
    :class:`InsufficientStockError` (409) listing every short line. The error leaves the
    reservation's key behind in the session; the caller's rollback removes it with
    everything else.

    ``commit_now``: the units leave the shelf at once (``on_hand`` drops), as a
    reserve followed by :func:`commit` would leave them, in one transaction. A
    replay of a reservation still held commits it then.
    """
    wanted = _wanted(lines)
    reservations = ReservationRepository(session)
    status = ReservationStatus.COMMITTED if commit_now else ReservationStatus.HELD
    expires_at = await reservations.add_key(order_id, status, ttl)
    if expires_at is None:
        replayed = await _replay(reservations, order_id, wanted)
        if commit_now and replayed.status == ReservationStatus.HELD:
            replayed = await commit(session, order_id, actor, cache, notify_search=notify_search)
        return ReserveOutcome(replayed, created=False)

    chosen, products = await _resolve(session, wanted)
    stock_rows = StockRepository(session)
    stock = await stock_rows.lock_many(chosen)
    short = [
        ShortLine(
            product_id=variant.product_id,
            variant_id=variant.id,
            requested=quantity,
            available=available,
        ).model_dump(mode="json")
        for variant, quantity in chosen.values()
        if quantity > (available := _available(stock.get(variant.id)))
    ]
    if short:
        raise InsufficientStockError(
            "Not enough stock for some lines; nothing was reserved.", errors=short
        )

    reserved_lines = []
    for variant_id in sorted(chosen):
        variant, quantity = chosen[variant_id]
        product = products[variant.product_id]
        if commit_now:
            stock[variant_id].on_hand -= quantity
            movement = ledger_row(
                variant.product_id,
                variant.id,
                order_id,
                actor,
                StockReason.COMMIT,
                on_hand=-quantity,
            )
            movement.note = "reserved and committed at once"
        else:
            stock[variant_id].reserved += quantity
            movement = ledger_row(
                variant.product_id,
                variant.id,
                order_id,
                actor,
                StockReason.RESERVATION,
                reserved=quantity,
            )
        stock_rows.record(movement)
        line = ReservationLine(
            order_id=order_id,
            variant_id=variant_id,
            product_id=product.id,
            quantity=quantity,
            unit_price=variant.price,
            currency=product.currency,
            name=product.name,
            sku=variant.sku,
            variant_title=variant.title,
        )
        reservations.add_line(line)
        reserved_lines.append(line)
    await reservations.flush()
    changed = {variant.product_id for variant, _ in chosen.values()}
    await stock_changed(session, cache, changed, notify_search)
    # What was just written, in variant order as view() reads it: no need to read it back.
    view = view_of_rows(order_id, status, expires_at, reserved_lines)
    log.info("stock reserved", order_id=str(order_id), lines=len(chosen), status=status)
    return ReserveOutcome(view, created=True)


def _not_orderable(
    index: int,
    field: str,
    reason: str,
    message: str,
    line: WantedLine,
    product_id: uuid.UUID | None,
) -> dict[str, Any]:
    return NotOrderableLine(
        field=f"lines.{index}.{field}",
        message=message,
        product_id=product_id,
        variant_id=line.variant_id,
        reason=reason,
    ).model_dump(mode="json")


async def _resolve(
    session: AsyncSession, wanted: Sequence[WantedLine]
) -> tuple[dict[uuid.UUID, tuple[ProductVariant, int]], dict[uuid.UUID, Product]]:
    """The variant of each line and its quantity, by variant id, and their products; or
    the refusal of every line that cannot be sold."""
    variant_rows = VariantRepository(session)
    variants = await variant_rows.fresh_by_id(w.variant_id for w in wanted if w.variant_id)
    by_product = [w.product_id for w in wanted if w.variant_id is None and w.product_id]
    only = await variant_rows.of_products(by_product, active_only=True)
    product_ids = {v.product_id for v in variants.values()} | set(by_product)
    products = await ProductRepository(session).fresh_by_id(product_ids)
    refused: list[dict[str, Any]] = []
    ambiguous: list[dict[str, Any]] = []
    chosen: dict[uuid.UUID, tuple[ProductVariant, int]] = {}
    for index, line in enumerate(wanted):
        variant = variants.get(line.variant_id) if line.variant_id else None
        field = "variant_id" if line.variant_id else "product_id"
        product_id = variant.product_id if variant is not None else line.product_id
        product = products.get(product_id) if product_id else None
        if line.variant_id and (
            variant is None or (line.product_id and variant.product_id != line.product_id)
        ):
            message = "no such variant" + (" of this product" if line.product_id else "")
            refused.append(_not_orderable(index, field, "unknown", message, line, line.product_id))
            continue
        if product is None or product.status != ProductStatus.ACTIVE:
            reason = "unknown" if product is None else product.status.value
            message = (
                "no such product" if product is None else f"the product is {reason}, not active"
            )
            refused.append(_not_orderable(index, field, reason, message, line, product_id))
            continue
        if variant is None:
            active = only.get(product.id, [])
            if len(active) != 1:
                message = "the product has several variants: name one by variant_id"
                ambiguous.append(
                    _not_orderable(
                        index, "variant_id", "variant-required", message, line, product.id
                    )
                )
                continue
            [variant] = active
        if variant.status != VariantStatus.ACTIVE:
            message = f"the variant is {variant.status.value}, not active"
            refused.append(
                _not_orderable(index, field, variant.status.value, message, line, product.id)
            )
        elif variant.id in chosen:
            message = "this variant is on another line too"
            refused.append(_not_orderable(index, field, "duplicate", message, line, product.id))
        else:
            chosen[variant.id] = (variant, line.quantity)
    if refused:
        raise ProductsNotOrderableError(
            "Some products do not exist or cannot be ordered; see errors.",
            errors=refused + ambiguous,
        )
    if ambiguous:
        raise VariantRequiredError(
            "Some lines name a product with several variants; name the variant.",
            errors=ambiguous,
        )
    return chosen, products


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
    stock = await stock_rows.lock_many(line.variant_id for line in lines)
    for line in lines:
        row = stock_row(stock, line)
        row.on_hand -= line.quantity
        row.reserved -= line.quantity
        stock_rows.record(
            ledger_row(
                line.product_id,
                line.variant_id,
                order_id,
                actor,
                StockReason.COMMIT,
                on_hand=-line.quantity,
                reserved=-line.quantity,
            )
        )
    reservation.status = ReservationStatus.COMMITTED
    await reservations.flush()
    await stock_changed(session, cache, {line.product_id for line in lines}, notify_search)
    log.info("reservation committed", order_id=str(order_id))
    # The locked row and its lines, as just written: no need to read them back.
    return view_of_rows(order_id, reservation.status, reservation.expires_at, lines)


async def get_reservation(session: AsyncSession, order_id: uuid.UUID) -> ReservationView:
    reservations = ReservationRepository(session)
    if await reservations.get(order_id, fresh=True) is None:
        raise ReservationNotFoundError(f"No reservation for order {order_id}.")
    return await stored_view(reservations, order_id)


def _wanted(lines: Sequence[Wanted]) -> list[WantedLine]:
    wanted = [
        line if isinstance(line, WantedLine) else WantedLine(product_id=line[0], quantity=line[1])
        for line in lines
    ]
    if not wanted:
        raise ValueError("a reservation needs at least one line")
    for line in wanted:
        if line.quantity <= 0:
            raise ValueError("quantities must be positive")
        if line.product_id is None and line.variant_id is None:
            raise ValueError("a line names a variant or a product")
    return wanted


def _available(row: Inventory | None) -> int:
    return 0 if row is None else max(0, row.available)


async def _replay(
    reservations: ReservationRepository, order_id: uuid.UUID, wanted: Sequence[WantedLine]
) -> ReservationView:
    """The stored answer to a repeated reserve, if it asks for the same lines (a line
    named by product matches the stored line of that product's variant)."""
    view = await stored_view(reservations, order_id)
    if view.status == ReservationStatus.RELEASED:
        raise ReservationReleasedError(
            "This order's reservation was released; it cannot hold stock again.",
            order_id=str(order_id),
            reservation_status=view.status.value,
        )
    if not _same_lines(view.lines, wanted):
        raise ReservationMismatchError(
            "This order already has a reservation with other lines.",
            order_id=str(order_id),
            reservation_status=view.status.value,
        )
    return view


def _same_lines(stored: Sequence[ReservationLineOut], wanted: Sequence[WantedLine]) -> bool:
    left = list(stored)
    for line in wanted:
        matches = [
            s
            for s in left
            if (line.variant_id is None or s.variant_id == line.variant_id)
            and (line.product_id is None or s.product_id == line.product_id)
        ]
        if len(matches) != 1 or matches[0].quantity != line.quantity:
            return False
        left.remove(matches[0])
    return not left
