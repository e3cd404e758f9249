"""Read-through cache of catalog reads in Redis.

Every cached entry is keyed under the catalog's current *generation*. A write
bumps the generation after its transaction commits and before its response
is sent, so no read that starts after a write is acknowledged can see an
entry from before it. Old generations simply expire.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import after_commit

GENERATION_KEY = "products:cache:generation"
ENTRY_PREFIX = "products:cache:"
log = structlog.get_logger("shop.products.cache")

# One round trip for a read: the current generation, and the entry under it.
# KEYS[1]: the generation; ARGV[1]: the entry prefix; ARGV[2]: the entry's hash.
READ_SCRIPT = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])}
"""


class CatalogCache:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self._read = redis.register_script(READ_SCRIPT)

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached bytes for ``key``, or ``load()``'s, stored for next time.

        Redis trouble never fails a read: the cache is skipped and the database answers.
        """
        if self.ttl == 0:
            return await load()
        digest = hashlib.sha256(key.encode()).hexdigest()
        try:
            generation, cached = await self._read(
                keys=[GENERATION_KEY], args=[ENTRY_PREFIX, digest]
            )
            full_key = f"{ENTRY_PREFIX}{int(generation)}:{digest}"
        except RedisError as exc:
            log.warning("cache unavailable", error=type(exc).__name__)
            return await load()
        if isinstance(cached, bytes):
            return cached
        value = await load()
        try:
            await self.redis.set(full_key, value, ex=self.ttl)
        except RedisError as exc:
            log.warning("cache unavailable", error=type(exc).__name__)
        return value

    def invalidate_after_commit(self, session: AsyncSession) -> None:
        """Every write calls this: its changes are visible to the next read."""
        if not session.info.get("cache_invalidation_scheduled"):
            session.info["cache_invalidation_scheduled"] = True
            after_commit(session, self._bump)

    async def _bump(self) -> None:
        try:
            await self.redis.incr(GENERATION_KEY)
        except RedisError as exc:
            # The write has committed and must be answered as such. Entries cached
            # before it may be served until they expire (cache_ttl_seconds).
            log.error("cache invalidation failed", error=type(exc).__name__)
