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
4. settles payments (``shop.orders.payments``): asks the provider about every order
   still pending whose payment it has not been asked about for a minute, and
   finishes those paid but not yet confirmed (a crash, products unreachable);
5. cancels the orders whose payment is still awaited past its hold (cancelled at
   the provider first; one paid meanwhile is settled instead);
6. finishes refunds left pending (``shop.orders.refunds``: the provider asked again
   with the same key);
7. purges expired idempotency keys.

Every step is idempotent, and a crash between two steps is resumed at the
next round, as the order's ``status`` and ``stock_state`` say what is left
to do. Step 1 takes its rows ``FOR UPDATE SKIP LOCKED`` and steps 2 and 3
record their result with conditional updates, so any number of instances may
run at once. Errors are logged and the next round tries again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from fastapi import FastAPI

from shop.kit.background import background_resource
from shop.kit.db import unit_of_work
from shop.kit.resource import Resource
from shop.orders import idempotency, lifecycle, payments, promotion_uses, refunds, refusals, stock
from shop.orders.context import RECONCILER_ACTOR, Orders
from shop.orders.models import OrderStatus
from shop.orders.payment_providers.base import ProviderUnavailableError
from shop.orders.payment_repository import PaymentRepository
from shop.orders.repository import OrderRepository

log = structlog.get_logger("shop.orders.reconciler")


@dataclass
class Round:
    """What one round did."""

    cancelled: int = 0
    committed: int = 0
    given_back: int = 0
    refunds_finished: int = 0
    payments_settled: int = 0
    holds_expired: int = 0
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
        done.payments_settled = await self.settle_payments()
        done.holds_expired = await self.expire_holds()
        done.refunds_finished = await refunds.retry_pending_refunds(
            self.orders, limit=self.batch_size
        )
        async with unit_of_work(self.orders.sessionmaker) as session:
            done.keys_purged = await idempotency.purge_expired(session)
        if any(value for name, value in vars(done).items() if name != "keys_purged"):
            log.info("reconciled", **vars(done))
        return done

    async def settle_payments(self) -> int:
        """Orders still pending whose payment the provider was not asked about for a
        minute (a webhook lost), and those paid whose settlement stopped halfway."""
        async with unit_of_work(self.orders.sessionmaker) as session:
            repository = PaymentRepository(session)
            stalled = await repository.orders_paid_unconfirmed(self.batch_size)
            after = self.orders.settings.payment_settle_after_seconds
            quiet = await repository.orders_to_settle(after, self.batch_size)
        settled = 0
        for order_id in dict.fromkeys([*stalled, *quiet]):
            outcome = await self._payment_step(payments.settle_payment, order_id)
            settled += outcome not in (None, payments.Settled.NOTHING)
        return settled

    async def expire_holds(self) -> int:
        """Orders whose payment is still awaited past its hold: cancelled."""
        async with unit_of_work(self.orders.sessionmaker) as session:
            lapsed = await PaymentRepository(session).orders_lapsed(self.batch_size)
        expired = 0
        for order_id in lapsed:
            outcome = await self._payment_step(payments.expire_lapsed, order_id)
            expired += outcome not in (None, payments.Settled.NOTHING)
        return expired

    async def _payment_step(
        self,
        step: Callable[[Orders, uuid.UUID], Awaitable[payments.Settled]],
        order_id: uuid.UUID,
    ) -> payments.Settled | None:
        """One order's step; the provider unreachable leaves it to the next round."""
        try:
            return await step(self.orders, order_id)
        except ProviderUnavailableError as exc:
            log.warning("payment provider unavailable", order_id=str(order_id), error=str(exc))
            return None

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
                # An order priced to be paid online counted its code's use already.
                await promotion_uses.give_back(session, order.id)
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
