"""The steps at the products service that follow a committed change of an order.

Each is idempotent and runs with no transaction open during the HTTP call;
what it achieved is then recorded in ``orders.stock_state`` with a
conditional update. If a step fails, the order keeps the state that says the
step is still to do, and the reconciler does it at its next round.
"""

from __future__ import annotations

import uuid
from enum import Enum

import structlog

from shop.kit.contracts.reservations import ReservationRefusal
from shop.kit.db import unit_of_work
from shop.kit.outages import unreachable
from shop.orders import lifecycle, promotion_uses
from shop.orders.context import RECONCILER_ACTOR, Orders
from shop.orders.models import Order, OrderStatus, StockState
from shop.orders.products_client import ProductsRefusedError, ProductsUnavailableError
from shop.orders.repository import OrderRepository

# Answers to a commit that say the hold is gone: the order's units are not kept for it.
HOLD_LOST = frozenset(
    {ReservationRefusal.RELEASED, ReservationRefusal.EXPIRED, ReservationRefusal.NOT_FOUND}
)

log = structlog.get_logger("shop.orders.stock")


async def give_back(orders: Orders, order_id: uuid.UUID) -> bool:
    """A cancelled order's units go back on the shelf, held or committed (a tombstone if
    products never saw the order, so a reserve still on its way is refused). False when
    products or the database could not be reached: the reconciler finishes it."""
    try:
        await orders.products.restock(order_id)
        async with unit_of_work(orders.sessionmaker) as session:
            await OrderRepository(session).set_stock_state(
                order_id, StockState.RELEASED, when=Order.status == OrderStatus.CANCELLED
            )
    except Exception as exc:
        from_products = isinstance(exc, ProductsUnavailableError | ProductsRefusedError)
        if not (from_products or unreachable(exc)):  # a bug, not an outage: raise
            raise
        log.warning(
            "giving stock back failed; the reconciler retries",
            order_id=str(order_id),
            reason=str(exc),
        )
        return False
    log.info("stock given back", order_id=str(order_id))
    return True


class CommitAnswer(Enum):
    """What the products service answered to committing an order's held units."""

    COMMITTED = "committed"
    UNKNOWN = "unknown"  # unreachable, or refused for another reason: try again later
    HOLD_LOST = "hold-lost"  # released or expired: the units are not kept for it


async def commit_hold(orders: Orders, order_id: uuid.UUID) -> CommitAnswer:
    """Asks products to commit the order's held units; records nothing."""
    try:
        await orders.products.commit(order_id)
    except ProductsUnavailableError as exc:
        log.warning(
            "commit failed; the reconciler retries", order_id=str(order_id), reason=str(exc)
        )
        return CommitAnswer.UNKNOWN
    except ProductsRefusedError as exc:
        if exc.refusal in HOLD_LOST:
            log.warning("stock hold lost", order_id=str(order_id), type=exc.type_slug)
            return CommitAnswer.HOLD_LOST
        log.error("commit refused", order_id=str(order_id), status=exc.status, type=exc.type_slug)
        return CommitAnswer.UNKNOWN
    return CommitAnswer.COMMITTED


async def commit(orders: Orders, order_id: uuid.UUID) -> bool:
    """A confirmed order's held units leave the shelf."""
    answer = await commit_hold(orders, order_id)
    if answer is CommitAnswer.HOLD_LOST:
        await _hold_lost(orders, order_id)
    if answer is not CommitAnswer.COMMITTED:
        return False
    async with unit_of_work(orders.sessionmaker) as session:
        await OrderRepository(session).set_stock_state(
            order_id, StockState.COMMITTED, when=Order.stock_state == StockState.HELD
        )
    return True


async def _hold_lost(orders: Orders, order_id: uuid.UUID) -> None:
    """The products service no longer holds a confirmed order's units (it could not be
    reached before the hold expired): the order cannot be fulfilled and is cancelled."""
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is None or order.status != OrderStatus.CONFIRMED:
            return
        lifecycle.transition(
            session,
            order,
            OrderStatus.CANCELLED,
            RECONCILER_ACTOR,
            "the stock hold lapsed before it was committed",
        )
        await promotion_uses.give_back(session, order_id)
    log.error("stock hold lost: order cancelled", order_id=str(order_id))
