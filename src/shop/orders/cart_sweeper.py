"""The cart sweeper: deletes carts past their expiry (``CART_TTL_DAYS`` after their last
change), in batches, every ``cart_sweep_interval_seconds``.

Rows are taken ``FOR UPDATE SKIP LOCKED``, so every instance may run one; a cart being
changed or checked out right now is left for the next round (its change renews it).
A failing database is logged and tried again at the next round."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.background import background_resource
from shop.kit.db import unit_of_work
from shop.kit.resource import Resource
from shop.orders.cart_repository import CartRepository

log = structlog.get_logger("shop.orders.cart_sweeper")


class CartSweeper:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        interval: float,
        batch_size: int = 500,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.interval = interval
        self.batch_size = batch_size

    async def run_once(self) -> int:
        """Deletes every cart expired by now, batch after batch; returns how many."""
        total = 0
        while True:
            async with unit_of_work(self.sessionmaker) as session:
                count = await CartRepository(session).sweep_expired(self.batch_size)
            total += count
            if count < self.batch_size:
                break
        if total:
            log.info("expired carts deleted", count=total)
        return total

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("sweeping carts failed; trying again at the next round")
            await asyncio.sleep(self.interval)


def cart_sweeper_resource(interval: float) -> Resource:
    """Runs a :class:`CartSweeper` for the app's lifetime (``app.state.cart_sweeper``)."""
    return background_resource(
        "cart_sweeper", lambda app: CartSweeper(app.state.sessionmaker, interval=interval)
    )
