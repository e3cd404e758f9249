"""The reconciler: finishes every placement saga, whatever crashed or timed out.

Every ``reconcile_interval_seconds`` it

1. cancels pending orders older than ``placement_deadline_seconds`` (their
   placement is no longer running), never placed, with the history note
   refusals.NOT_COMPLETED;
2. commits the stock of orders that are confirmed but whose units products
   only holds (``stock_state = held``);
3. gives back the stock of cancelled orders that products may still hold or
   have taken (``stock_state`` not ``released``), which also leaves a
   tombstone so that a reservation still on its way is refused;
4. finishes refunds left pending (``shop.orders.refunds``: the provider asked again
   with the same key);
5. purges expired idempotency keys.

Every step is idempotent, and a crash between two steps is resumed at the
next round, as the order's ``status`` and ``stock_state`` say what is left
to do. Step 1 takes its rows ``FOR UPDATE SKIP LOCKED`` and steps 2 and 3
record their result with conditional updates, so any number of instances may
run at once. Errors are logged and the next round tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from fastapi import FastAPI

from shop.kit.background import background_resource
from shop.kit.db import unit_of_work
from shop.kit.resource import Resource
from shop.orders import idempotency, lifecycle, refunds, refusals, stock
from shop.orders.context import RECONCILER_ACTOR, Orders
from shop.orders.models import OrderStatus
from shop.orders.repository import OrderRepository

log = structlog.get_logger("shop.orders.reconciler")


@dataclass
class Round:
    """What one round did."""

    cancelled: int = 0
    committed: int = 0
    given_back: int = 0
    refunds_finished: int = 0
    keys_purged: int = 0


class Reconciler:
    def __init__(self, orders: Orders, *, batch_size: int = 50) -> None:
        self.orders = orders
        self.batch_size = batch_size

    async def run_once(self) -> Round:
        done = Round()
        done.cancelled = await self.cancel_overdue()
        done.committed = await self.commit_confirmed()
        done.given_back = await self.give_back_cancelled()
        done.refunds_finished = await refunds.retry_pending_refunds(
            self.orders, limit=self.batch_size
        )
        async with unit_of_work(self.orders.sessionmaker) as session:
            done.keys_purged = await idempotency.purge_expired(session)
        if done.cancelled or done.committed or done.given_back or done.refunds_finished:
            log.info("reconciled", **vars(done))
        return done

    async def cancel_overdue(self) -> int:
        deadline = self.orders.settings.placement_deadline_seconds
        async with unit_of_work(self.orders.sessionmaker) as session:
            overdue = await OrderRepository(session).lock_overdue_pending(deadline, self.batch_size)
            for order in overdue:
                lifecycle.transition(
                    session,
                    order,
                    OrderStatus.CANCELLED,
                    RECONCILER_ACTOR,
                    refusals.NOT_COMPLETED,
                )
        return len(overdue)

    async def commit_confirmed(self) -> int:
        async with unit_of_work(self.orders.sessionmaker) as session:
            ids = await OrderRepository(session).ids_to_commit(self.batch_size)
        return sum([await stock.commit(self.orders, order_id) for order_id in ids])

    async def give_back_cancelled(self) -> int:
        async with unit_of_work(self.orders.sessionmaker) as session:
            ids = await OrderRepository(session).ids_to_give_back(self.batch_size)
        return sum([await stock.give_back(self.orders, order_id) for order_id in ids])

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("reconciliation failed; trying again at the next round")
            await asyncio.sleep(self.orders.settings.reconcile_interval_seconds)


def reconciler_resource(orders: Callable[[FastAPI], Orders]) -> Resource:
    """Runs a :class:`Reconciler` for the app's lifetime (``app.state.reconciler``)."""

    return background_resource("reconciler", lambda app: Reconciler(orders(app)))
