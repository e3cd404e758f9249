"""Login throttling: failed attempts counted per account and per client IP in Redis,
attempts still under way counting as failures.

The account key is the submitted email, whether or not an account has it,
so a throttled answer tells nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from shop.kit.errors import ShopError

# An attempt's in-flight mark outlives any attempt, and frees the slot of a crashed process.
IN_FLIGHT_SECONDS = 60
# Decrements an in-flight count, dropping the key at zero: a key never lingers without
# its expiry, and never goes negative (which would grant extra attempts).
_RELEASE = """
local left = redis.call('DECR', KEYS[1])
if left <= 0 then redis.call('DEL', KEYS[1]) end
return left
"""


class TooManyAttemptsError(ShopError):
    status = 429
    title = "Too many attempts"
    type_slug = "too-many-attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed attempts. Try again later.")
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _account(email: str) -> str:
    # Hashed, so raw addresses never sit in Redis keys.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class LoginThrottle:
    def __init__(self, redis_url: str, limit: str, redis: Redis) -> None:
        # On the app's connection pool: one set of connections, replaced (and the command
        # tried again) when Redis restarted, instead of failing once per stale connection.
        pool: Any = redis.connection_pool
        self.storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix="auth-login",
            connection_pool=pool,
        )
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.limit = parse(limit)
        self.redis = redis

    def _keys(self, email: str, ip: str) -> list[tuple[str, str]]:
        return [("account", _account(email)), ("ip", ip)]

    @asynccontextmanager
    async def attempt(self, email: str, ip: str) -> AsyncIterator[None]:
        """Admits one attempt for its duration; raises when the account or the address
        has used up its failures.

        Attempts still running count as failures. Counting failures only after the
        password check let parallel attempts all pass the check first: 30 parallel
        guesses at one account were all answered, none refused.
        """
        taken: list[str] = []
        try:
            for kind, value in self._keys(email, ip):
                counter = f"auth-login:in-flight:{kind}:{value}"
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(counter)
                    pipe.expire(counter, IN_FLIGHT_SECONDS)
                    in_flight, _ = await pipe.execute()
                taken.append(counter)
                stats = await self.limiter.get_window_stats(self.limit, kind, value)
                failures = self.limit.amount - stats.remaining
                if failures + in_flight > self.limit.amount:
                    # Used up: until the oldest failure leaves the window. Else a running
                    # attempt holds the last slot: ask again once it is done.
                    used_up = failures >= self.limit.amount
                    wait = stats.reset_time - time.time() if used_up else 1
                    raise TooManyAttemptsError(math.ceil(wait))
            yield
        finally:
            for counter in taken:
                await self.redis.eval(_RELEASE, 1, counter)

    async def failed(self, email: str, ip: str) -> None:
        for kind, value in self._keys(email, ip):
            await self.limiter.hit(self.limit, kind, value)

    async def succeeded(self, email: str, ip: str) -> None:
        await self.limiter.clear(self.limit, "account", _account(email))
