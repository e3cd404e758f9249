"""The order state machine, in one place.

::

    pending ──► confirmed ──► shipped ──► delivered
       │            │
       └────────────┴──► cancelled

Every transition appends an event to the order's history (time, actor, note).
The caller holds the order's row lock (``OrderRepository.lock``) in the
transition's transaction, so two transitions of one order never both win: the
second sees the first's result and is refused.
"""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from shop.orders.errors import IllegalTransitionError
from shop.orders.models import Order, OrderEvent, OrderStatus

ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in ALLOWED[current]


def record(session: AsyncSession, order: Order, actor: str, note: str = "") -> None:
    """Appends the order's current status to its history (also its first entry)."""
    event = OrderEvent(order_id=order.id, status=order.status, actor=actor, note=note[:500])
    if "events" in inspect(order).unloaded:
        session.add(event)
    else:  # the history is loaded: it shows the new entry too
        order.events.append(event)


def transition(
    session: AsyncSession, order: Order, target: OrderStatus, actor: str, note: str = ""
) -> None:
    """Moves the (locked) order to ``target`` and records it; an illegal move is a 409."""
    if not can_transition(order.status, target):
        raise IllegalTransitionError(
            f"An order that is {order.status.value} cannot become {target.value}.",
            current_status=order.status.value,
            requested_status=target.value,
        )
    order.status = target
    record(session, order, actor, note)
