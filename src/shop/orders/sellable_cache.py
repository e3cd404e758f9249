"""The catalog's current prices and stock of cart lines, briefly kept in this process.

A cart read needs every line's price, names and stock: the variants not kept here are
asked of products in ONE call (shop.kit.contracts.sellables), and each answer is kept
for ``cart_catalog_cache_seconds`` (2 s by default), in this process's memory (not
Redis: the answer is small and cheap to ask again, and a few seconds of staleness per
process is what a cart can show; checkout never trusts it, as the reservation prices
the order). Bounded: past ``max_entries`` the expired entries are dropped, then all.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from shop.kit.contracts.sellable import SellableRef
from shop.kit.contracts.sellables import SellableOut, SellablesOut
from shop.orders.products_client import ProductsClient


class SellableCache:
    def __init__(self, products: ProductsClient, ttl: float, *, max_entries: int = 10_000) -> None:
        self.products = products
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[uuid.UUID, tuple[float, SellableOut]] = {}

    async def variants(self, variant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, SellableOut]:
        """The variants the catalog knows, by id (ProductsUnavailableError if it can't
        be asked); unknown ones are left out."""
        wanted = list(dict.fromkeys(variant_ids))
        now = time.monotonic()
        found: dict[uuid.UUID, SellableOut] = {}
        for variant_id in wanted:
            entry = self._entries.get(variant_id)
            if entry is not None and entry[0] > now:
                found[variant_id] = entry[1]
        missing = [variant_id for variant_id in wanted if variant_id not in found]
        if missing:
            answer = await self.products.sellables([SellableRef(variant_id=v) for v in missing])
            self._keep(answer.items, now)
            found.update({item.variant_id: item for item in answer.items})
        return found

    async def resolve(self, ref: SellableRef) -> SellablesOut:
        """One reference as the catalog answers it now (never from the cache)."""
        answer = await self.products.sellables([ref])
        self._keep(answer.items, time.monotonic())
        return answer

    def clear(self) -> None:
        """Forgets every answer kept (the next read of each variant asks products)."""
        self._entries.clear()

    def _keep(self, items: Iterable[SellableOut], now: float) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) > self.max_entries:
                self._entries.clear()
        for item in items:
            self._entries[item.variant_id] = (now + self.ttl, item)
