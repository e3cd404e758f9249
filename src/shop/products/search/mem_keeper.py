"""Keeps this process's :class:`CatalogIndex` current with the products database.

A catch-up reads the versions of every product written since the previous one
began (its row, a variant or a variant's stock: their ``updated_at``),
and of every product of a category whose name or place changed, less :data:`MARGIN`:
a write's ``updated_at`` is its transaction's start, and a transaction that began
before the previous catch-up may commit after it. Then the products whose version
moved: active ones are put, the others taken out. And the vocabulary's words added
since then (their ``added_at``, the same way): searches correct words in the process
(mem_words).

When: the read cache's generations in Redis say (shop.products.cache). Every catalog
write bumps the catalog generation once committed, and every stock change the stock
generation. A search first reads the catalog generation and catches up if it moved
(:meth:`IndexKeeper.fresh`: a write is in the next search, as with the read cache);
:meth:`IndexKeeper.follow` catches up in the background when either moved, at most
every ``interval`` (stock may lag that long, as cached listings' does), and every
:data:`SAFETY_SECONDS` whatever Redis says (a bump lost with Redis down). While
Redis cannot be read, searches answer from the index as it is and the background
catches up every ``interval``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import unit_of_work
from shop.products.cache import GENERATION_KEY, STOCK_GENERATION_KEY
from shop.products.search.mem_index import CatalogIndex, IndexedCategory, IndexedProduct
from shop.products.search.mem_loader import (
    categories,
    changed_products,
    load_index,
    product_of,
    read_products,
    vocabulary_words,
)
from shop.products.search.mem_views import VIEWS_KEPT, KeptViews
from shop.products.search.mem_words import Vocabulary

__all__ = ["MARGIN", "SAFETY_SECONDS", "IndexKeeper"]

log = structlog.get_logger("shop.products.search")

# Longer than any catalog write's transaction lasts.
MARGIN = timedelta(seconds=60)
# A catch-up at least this often, whatever the generations say.
SAFETY_SECONDS = 30.0
# Products put between two turns of the event loop.
CHUNK = 500

Generations = tuple[bytes | str, bytes | str]  # (catalog, stock), as Redis has them


class IndexKeeper:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], redis: Redis, *, views: int = VIEWS_KEPT
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.index: CatalogIndex | None = None
        self.vocabulary = Vocabulary()
        self._since: datetime | None = None
        self._categories: dict[uuid.UUID, tuple[IndexedCategory, str]] = {}
        self._versions: dict[uuid.UUID, str] = {}  # of the products in the index
        # Their views, each dropped when its product's version moves (mem_views).
        self.views = KeptViews(self._versions.get, views)
        self._lock = asyncio.Lock()
        # The generations the index has caught up with (read before it did).
        self._seen: Generations | None = None
        self._caught_up_at = 0.0

    async def load(self) -> None:
        """Reads the whole active catalog."""
        async with self._lock:
            seen = await self._generations()
            async with unit_of_work(self.sessions) as session:
                started = await _now(session)
                known = await categories(session)
                index, versions = await load_index(session)
                vocabulary = Vocabulary(await vocabulary_words(session))
            self.views.clear()
            self._versions.clear()
            self._versions.update(versions)
            self.index, self._since, self._categories = index, started, known
            self.vocabulary = vocabulary
            self._seen, self._caught_up_at = seen, time.monotonic()

    async def fresh(self) -> CatalogIndex:
        """The index, with every catalog write acknowledged so far."""
        generations = await self._generations()
        if self.index is None:
            await self.load()
        elif generations is not None and (self._seen is None or generations[0] != self._seen[0]):
            await self.catch_up(generations)
        assert self.index is not None
        return self.index

    async def catch_up(self, generations: Generations | None = None) -> int:
        """Reads what changed since the last load or catch-up; how many products.
        ``generations``: read before (those the index will then have caught up with)."""
        if self.index is None:
            await self.load()
            return 0
        async with self._lock:
            if generations is not None and generations == self._seen:
                return 0  # another search caught up with them meanwhile
            seen = generations or await self._generations()
            async with unit_of_work(self.sessions) as session:
                started = await _now(session)
                known = await categories(session)
                moved = {c for c, facts in known.items() if self._categories.get(c) != facts}
                assert self._since is not None
                changes = await changed_products(session, self._since - MARGIN, moved)
                # The margin finds the same products again and again: read those whose
                # version moved.
                stale = [
                    c.id for c in changes if c.active and self._versions.get(c.id) != c.version
                ]
                rows = await read_products(session, stale) if stale else []
                words = await vocabulary_words(session, self._since - MARGIN)
            self.vocabulary.add(words)
            await self._apply(known, [c.id for c in changes if not c.active], rows)
            self._since = started
            self._seen, self._caught_up_at = seen, time.monotonic()
            return len(stale)

    async def _apply(
        self,
        known: dict[uuid.UUID, tuple[IndexedCategory, str]],
        inactive: list[uuid.UUID],
        rows: list[Any],
    ) -> None:
        """Puts what a catch-up read, :data:`CHUNK` products at a time: the event loop
        serves requests in between (each product is whole at any time)."""
        index = self.index
        assert index is not None
        index.set_categories({c: facts for c, (facts, _) in known.items()})
        self._categories = known
        for product_id in inactive:
            index.remove(product_id)
            self._forget(product_id)
        new: list[IndexedProduct] = []
        for start in range(0, len(rows), CHUNK):
            for row in rows[start : start + CHUNK]:
                product = product_of(row)
                if row.status != "active":  # archived between the two statements
                    index.remove(product.id)
                    self._forget(product.id)
                    continue
                if index.position_of(product.id) is None:
                    new.append(product)
                else:
                    index.put(product)
                self._versions[product.id] = row.version
                self.views.forget(product.id)
            await asyncio.sleep(0)
        # Oldest first, a chunk at a time: no chunk moves an earlier one's products.
        new.sort(key=lambda product: (product.created_at, product.id))
        for start in range(0, len(new), CHUNK):
            index.extend(new[start : start + CHUNK])
            await asyncio.sleep(0)

    def _forget(self, product_id: uuid.UUID) -> None:
        self._versions.pop(product_id, None)
        self.views.forget(product_id)

    async def follow(self, stop: asyncio.Event, interval: float) -> None:
        """Catches up whenever a generation moved, until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval)
                return
            except TimeoutError:
                pass
            try:
                generations = await self._generations()
                overdue = time.monotonic() - self._caught_up_at > SAFETY_SECONDS
                # Redis cannot say (None): every turn.
                if overdue or generations is None or generations != self._seen:
                    await self.catch_up(None if overdue else generations)
            except Exception:  # the next turn tries again
                log.exception("search index catch-up failed")

    async def _generations(self) -> Generations | None:
        """(catalog, stock) generations; None when Redis cannot say."""
        try:
            catalog, stock = await self.redis.mget([GENERATION_KEY, STOCK_GENERATION_KEY])
        except RedisError as exc:
            log.warning("cache generations unavailable", error=type(exc).__name__)
            return None
        return (catalog or b"0", stock or b"0")


async def _now(session: AsyncSession) -> datetime:
    now = await session.scalar(select(func.now()))
    assert isinstance(now, datetime)
    return now
