"""Read-through cache of catalog reads in Redis.

Every cached entry is keyed under the catalog's current *generation*, which
catalog writes (products, categories, images) bump after their transaction
commits and before their response is sent: no read that starts after such a
write is acknowledged can see an entry from before it. Old generations simply
expire.

Stock changes (reservations, commits, releases, restocks, the sweeper,
adjustments) do not bump the generation: under order load that would empty the
whole cache all the time. Instead, after the commit they give each product they
touched a new *stock stamp* and bump one *stock generation*. Each entry starts
with a header line saying what else it depends on:

- ``P {product id} {stamp}``: a product read. It is fresh while the product's
  stamp is the one read before its stock was loaded, so a stock change of this
  product (and only of this product) invalidates it at once: reads by id stay
  exact, ETag included.
- ``S {stock generation} {loaded at, ms}``: a listing page. It is fresh while
  no stock changed since it was loaded, *or* for ``listing_stock_staleness``
  (2 s) after it was loaded whatever changed: a page's ``available`` and its
  ``in_stock`` filter may lag behind reservations by that much, never more, and
  a busy listing is loaded at most once per window instead of on every read.
- ``-``: no stock in it, only the generation counts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

import structlog
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import after_commit, transaction_state

GENERATION_KEY = "products:cache:generation"
# Bumped by every stock change; listing entries remember the value they were loaded at.
STOCK_GENERATION_KEY = "products:cache:stock"
# + product id: the product's stock stamp (a new one at each of its stock changes).
STOCK_STAMP_PREFIX = "products:cache:stock:"
ENTRY_PREFIX = "products:cache:"
# How long a listing page may go on showing stock from before a stock change.
LISTING_STOCK_STALENESS_SECONDS = 2.0
log = structlog.get_logger("shop.products.cache")

# One round trip for a read: the generations, Redis's clock, and the entry under the
# generation if it is still fresh (see the module's docstring for the header line).
# KEYS[1]: the generation; KEYS[2]: the stock generation. ARGV[1]: the entry prefix;
# ARGV[2]: the entry's hash; ARGV[3]: the stock stamp prefix; ARGV[4]: the listing
# staleness in ms.
READ_SCRIPT = """
local generation = redis.call('GET', KEYS[1]) or '0'
local stock = redis.call('GET', KEYS[2]) or '0'
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local entry = redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])
local reply = {generation, stock, string.format('%d', now), false}
if not entry then return reply end
local eol = string.find(entry, '\\n', 1, true)
if not eol then return reply end
local kind, a, b = string.match(string.sub(entry, 1, eol - 1), '^(%S+) ?(%S*) ?(%S*)$')
local fresh = false
if kind == '-' then
  fresh = true
elseif kind == 'P' then
  fresh = (redis.call('GET', ARGV[3] .. a) or '') == b
elseif kind == 'S' then
  fresh = a == stock or now - tonumber(b) <= tonumber(ARGV[4])
end
if fresh then reply[4] = string.sub(entry, eol + 1) end
return reply
"""

# A product's stock stamp, made if it has none. KEYS[1]: the stamp's key; ARGV[1]: a
# new stamp; ARGV[2]: its lifetime in seconds.
PIN_SCRIPT = """
local stamp = redis.call('GET', KEYS[1])
if not stamp then
  stamp = ARGV[1]
  redis.call('SET', KEYS[1], stamp, 'EX', ARGV[2])
end
return stamp
"""

# After stock changes: a new stock generation, and it as the new stamp of each product.
# KEYS[1]: the stock generation; ARGV[1]: the stamp prefix; ARGV[2]: the stamps'
# lifetime in seconds; ARGV[3...]: the product ids.
STOCK_CHANGED_SCRIPT = """
local generation = redis.call('INCR', KEYS[1])
for i = 3, #ARGV do
  redis.call('SET', ARGV[1] .. ARGV[i], 's' .. generation, 'EX', ARGV[2])
end
return generation
"""

Load = Callable[[], Awaitable[bytes]]
# Called by a product read's loader with the product's id, before it reads the stock.
Pin = Callable[[uuid.UUID], Awaitable[None]]


@dataclass
class _Changes:
    """What one transaction changed, for its after-commit invalidation."""

    products: set[uuid.UUID] = field(default_factory=set)
    scheduled: bool = False


class CatalogCache:
    def __init__(
        self,
        redis: Redis,
        ttl_seconds: int,
        listing_stock_staleness: float = LISTING_STOCK_STALENESS_SECONDS,
    ) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.listing_stock_staleness_ms = int(listing_stock_staleness * 1000)
        # Outlive every entry that may name them (a stamp that vanished is only a miss).
        self.stamp_ttl = 2 * ttl_seconds + 60
        self.hits = 0  # answered from Redis, by this process
        self.misses = 0  # loaded, by this process
        self._read = redis.register_script(READ_SCRIPT)
        self._pin = redis.register_script(PIN_SCRIPT)
        self._stock_changed = redis.register_script(STOCK_CHANGED_SCRIPT)

    # --- reads ------------------------------------------------------------------------

    async def get_or_load(self, key: str, load: Load) -> bytes:
        """The cached bytes for ``key``, or ``load()``'s, stored for next time: for
        reads that show no stock (only catalog writes make them stale).

        Redis trouble never fails a read: the cache is skipped and the database answers.
        """
        return await self._get_or_load(key, "-", load)

    async def get_or_load_listing(self, key: str, load: Load) -> bytes:
        """As :meth:`get_or_load`, for a page that shows stock: it may be served up to
        ``listing_stock_staleness`` after a stock change (never after a catalog write)."""
        return await self._get_or_load(key, "S", load)

    async def get_or_load_product(self, key: str, load: Callable[[Pin], Awaitable[bytes]]) -> bytes:
        """As :meth:`get_or_load`, for one product's read, which its own stock changes
        invalidate at once. ``load(pin)`` must ``await pin(product_id)`` after finding the
        product and *before* reading its stock; a load that never pins is not cached."""
        return await self._get_or_load(key, "P", load)

    async def _get_or_load(
        self, key: str, kind: str, load: Callable[..., Awaitable[bytes]]
    ) -> bytes:
        pinned: list[str] = []
        caching = self.ttl > 0

        async def pin(product_id: uuid.UUID) -> None:
            if not caching:
                return
            try:
                stamp = await self._pin(
                    keys=[f"{STOCK_STAMP_PREFIX}{product_id}"],
                    args=[f"p{uuid.uuid4().hex}", self.stamp_ttl],
                )
            except RedisError as exc:
                log.warning("cache unavailable", error=type(exc).__name__)
                return
            pinned.append(f"P {product_id} {stamp.decode()}")

        def loading() -> Awaitable[bytes]:
            return load(pin) if kind == "P" else load()

        if self.ttl == 0:
            return await loading()
        digest = hashlib.sha256(key.encode()).hexdigest()
        try:
            generation, stock, now, cached = await self._read(
                keys=[GENERATION_KEY, STOCK_GENERATION_KEY],
                args=[
                    ENTRY_PREFIX,
                    digest,
                    STOCK_STAMP_PREFIX,
                    self.listing_stock_staleness_ms,
                ],
            )
            full_key = f"{ENTRY_PREFIX}{int(generation)}:{digest}"
        except RedisError as exc:
            log.warning("cache unavailable", error=type(exc).__name__)
            caching = False
            return await loading()
        if isinstance(cached, bytes):
            self.hits += 1
            return cached
        self.misses += 1
        value = await loading()
        if kind == "P":
            if len(pinned) != 1:
                return value  # not pinned: nothing says when its stock goes stale
            header = pinned[0]
        elif kind == "S":
            header = f"S {stock.decode()} {now.decode()}"
        else:
            header = "-"
        try:
            await self.redis.set(full_key, header.encode() + b"\n" + value, ex=self.ttl)
        except RedisError as exc:
            log.warning("cache unavailable", error=type(exc).__name__)
        return value

    # --- invalidation -------------------------------------------------------------------

    def invalidate_after_commit(self, session: AsyncSession) -> None:
        """Every catalog write calls this: its changes are visible to the next read."""
        if not session.info.get("cache_invalidation_scheduled"):
            session.info["cache_invalidation_scheduled"] = True
            after_commit(session, self._bump)

    def stock_changed_after_commit(
        self, session: AsyncSession, product_ids: Iterable[uuid.UUID]
    ) -> None:
        """Every stock change calls this: once the transaction commits, the reads of
        these products are fresh at once, listings within the staleness window. One
        Redis call per transaction, however many changes it made."""
        changes = transaction_state(session, "cache_stock_changes", _Changes)
        changes.products.update(product_ids)
        if not changes.scheduled and changes.products:
            changes.scheduled = True

            async def bump() -> None:
                await self._bump_stock(sorted(changes.products))

            after_commit(session, bump)

    async def _bump(self) -> None:
        try:
            await self.redis.incr(GENERATION_KEY)
        except RedisError as exc:
            # The write has committed and must be answered as such. Entries cached
            # before it may be served until they expire (cache_ttl_seconds).
            log.error("cache invalidation failed", error=type(exc).__name__)

    async def _bump_stock(self, product_ids: list[uuid.UUID]) -> None:
        try:
            await self._stock_changed(
                keys=[STOCK_GENERATION_KEY],
                args=[STOCK_STAMP_PREFIX, self.stamp_ttl, *(str(i) for i in product_ids)],
            )
        except RedisError as exc:
            log.error("cache invalidation failed", error=type(exc).__name__)


class ReadCacheCollector(Collector):
    """``products_read_cache_total{result="hit"|"miss"}``: reads answered from Redis
    and reads that loaded, by this process (the bench's cache hit rate)."""

    def __init__(self, cache: CatalogCache, service: str) -> None:
        self.cache = cache
        self.service = service

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "products_read_cache",
            "Catalog reads by whether the read cache answered them.",
            labels=["service", "result"],
        )
        family.add_metric([self.service, "hit"], self.cache.hits)
        family.add_metric([self.service, "miss"], self.cache.misses)
        yield family
