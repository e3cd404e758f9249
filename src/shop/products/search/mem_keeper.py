"""Keeps this process's :class:`CatalogIndex` current with the products database.

A catch-up reads, in one snapshot, every product written since the previous one
began (its row, a variant or a variant's stock: their ``updated_at``), and every
product of a category whose name or place changed, less :data:`MARGIN`: a write's
``updated_at`` is its transaction's start, and a transaction that began before the
previous catch-up may commit after it. Active products are put, the others taken
out. The caller decides when (shop.products.search: before a search whenever the
read cache's generation moved, and at least every second for stock).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import unit_of_work
from shop.products.search.mem_index import CatalogIndex
from shop.products.search.mem_loader import categories, changed_products, load_index

__all__ = ["MARGIN", "IndexKeeper"]

# Longer than any catalog write's transaction lasts.
MARGIN = timedelta(seconds=60)


class IndexKeeper:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.index: CatalogIndex | None = None
        self._since: datetime | None = None
        self._categories: dict[uuid.UUID, tuple[str, str]] = {}
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Reads the whole active catalog."""
        async with self._lock, unit_of_work(self.sessions) as session:
            started = await _now(session)
            known = await categories(session)
            index = await load_index(session)
        self.index, self._since, self._categories = index, started, known

    async def catch_up(self) -> int:
        """Reads what changed since the last load or catch-up; how many products."""
        if self.index is None or self._since is None:
            await self.load()
            return 0
        async with self._lock, unit_of_work(self.sessions) as session:
            started = await _now(session)
            known = await categories(session)
            moved = {c for c, facts in known.items() if self._categories.get(c) != facts}
            changed = await changed_products(session, self._since - MARGIN, moved)
        index = self.index
        index.set_categories({c: path for c, (path, _) in known.items()})
        for product, active in changed:
            if active:
                index.put(product)
            else:
                index.remove(product.id)
        self._since, self._categories = started, known
        return len(changed)


async def _now(session: AsyncSession) -> datetime:
    now: datetime = await session.scalar(select(func.now()))
    return now
