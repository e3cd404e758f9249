"""The reservation sweeper: releases holds nobody committed or released in time.

Every ``sweeper_interval_seconds`` it releases expired reservations in
batches, each batch in a transaction of its own; the rows are taken with
``FOR UPDATE SKIP LOCKED``, so every instance of the service can run one. A
failing database is logged and tried again at the next tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.background import background_resource
from shop.kit.db import unit_of_work
from shop.kit.resource import Resource
from shop.products.cache import CatalogCache
from shop.products.reservations import sweep_expired
from shop.products.search import indexes_stock

log = structlog.get_logger("shop.products.sweeper")


class ReservationSweeper:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        cache: Callable[[], CatalogCache | None] = lambda: None,
        *,
        interval: float = 30.0,
        batch_size: int = 100,
        notify_search: bool = True,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.cache = cache
        self.notify_search = notify_search  # product.changed for the search index
        self.interval = interval
        self.batch_size = batch_size

    async def sweep_batch(self) -> int:
        """Releases one batch of expired reservations and commits; returns how many."""
        # Its own unit of work: committed, then the cache invalidated.
        async with unit_of_work(self.sessionmaker) as session:
            return await sweep_expired(
                session,
                limit=self.batch_size,
                cache=self.cache(),
                notify_search=self.notify_search,
            )

    async def run_once(self) -> int:
        """Releases every reservation expired by now, batch after batch; returns how many."""
        total = 0
        while (count := await self.sweep_batch()) > 0:
            total += count
            if count < self.batch_size:
                break
        return total

    async def run_forever(self) -> None:
        """Sweeps until cancelled; errors are logged and the next tick tries again."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("reservation sweep failed")
            await asyncio.sleep(self.interval)


def sweeper_resource(interval: float, batch_size: int = 100) -> Resource:
    """Runs a :class:`ReservationSweeper` for the app's lifetime
    (``app.state.reservation_sweeper``). List it after the database resource (and the
    cache's, whose ``app.state.cache`` it invalidates when stock changes)."""

    def sweeper(app: FastAPI) -> ReservationSweeper:
        def cache() -> CatalogCache | None:
            found = getattr(app.state, "cache", None)
            return found if isinstance(found, CatalogCache) else None

        return ReservationSweeper(
            app.state.sessionmaker,
            cache,
            interval=interval,
            batch_size=batch_size,
            notify_search=indexes_stock(app.state.settings),
        )

    return background_resource("reservation_sweeper", sweeper)
