"""Abuse limits of the auth service, counted in Redis with the ``limits`` library.

Failed logins are counted three ways, attempts still under way counting as
failures: per account *from one client* (``LOGIN_FAILURE_LIMIT``, tight: a
guesser at one account), per account from all clients (looser: a guesser who
spreads over many addresses) and per client over all accounts
(``LOGIN_FAILURE_LIMIT_IP``, loose: one guesser at many accounts, while a whole
office behind one NAT address still signs in). A client is its address, or its
/64 for IPv6 (:func:`shop.kit.clients.client_key`).

The account key is the submitted email, whether or not an account has it,
so a throttled answer tells nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from limits import RateLimitItem, parse, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from shop.kit.clients import client_key
from shop.kit.errors import ShopError

log = structlog.get_logger("shop.auth")

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


def _hashed(email: str) -> str:
    # Hashed, so raw addresses never sit in Redis keys.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _storage(redis: Redis, redis_url: str, prefix: str) -> RedisStorage:
    # On the app's connection pool: one set of connections, replaced (and the command
    # tried again) when Redis restarted, instead of failing once per stale connection.
    pool: Any = redis.connection_pool
    return RedisStorage(
        "async+" + redis_url, implementation="redispy", key_prefix=prefix, connection_pool=pool
    )


@dataclass(frozen=True)
class _Counter:
    kind: str
    value: str
    limit: RateLimitItem


class LoginThrottle:
    def __init__(
        self,
        redis_url: str,
        redis: Redis,
        *,
        per_account_and_ip: str,
        per_account: str,
        per_ip: str,
    ) -> None:
        self.limiter = MovingWindowRateLimiter(_storage(redis, redis_url, "auth-login"))
        self.per_account_and_ip = parse(per_account_and_ip)
        self.per_account = parse(per_account)
        self.per_ip = parse(per_ip)
        self.redis = redis

    def _counters(self, email: str, ip: str) -> list[_Counter]:
        account, client = _hashed(email), client_key(ip)
        return [
            _Counter("account-ip", f"{account}:{client}", self.per_account_and_ip),
            _Counter("account", account, self.per_account),
            _Counter("ip", client, self.per_ip),
        ]

    @asynccontextmanager
    async def attempt(self, email: str, ip: str) -> AsyncIterator[None]:
        """Admits one attempt for its duration; raises when any of its counters has
        used up its failures.

        Attempts still running count as failures. Counting failures only after the
        password check let parallel attempts all pass the check first: 30 parallel
        guesses at one account were all answered, none refused.
        """
        taken: list[str] = []
        try:
            for counter in self._counters(email, ip):
                in_flight_key = f"auth-login:in-flight:{counter.kind}:{counter.value}"
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(in_flight_key)
                    pipe.expire(in_flight_key, IN_FLIGHT_SECONDS)
                    in_flight, _ = await pipe.execute()
                taken.append(in_flight_key)
                limit = counter.limit
                stats = await self.limiter.get_window_stats(limit, counter.kind, counter.value)
                failures = limit.amount - stats.remaining
                if failures + in_flight > limit.amount:
                    # Used up: until the oldest failure leaves the window. Else a running
                    # attempt holds the last slot: ask again once it is done.
                    used_up = failures >= limit.amount
                    wait = stats.reset_time - time.time() if used_up else 1
                    raise TooManyAttemptsError(math.ceil(wait))
            yield
        finally:
            for in_flight_key in taken:
                await self.redis.eval(_RELEASE, 1, in_flight_key)

    async def failed(self, email: str, ip: str) -> None:
        for counter in self._counters(email, ip):
            await self.limiter.hit(counter.limit, counter.kind, counter.value)

    async def succeeded(self, email: str, ip: str) -> None:
        """The account's owner got in: its failures are forgiven, the client's are not
        (one right password does not excuse guesses at other accounts)."""
        for counter in self._counters(email, ip)[:2]:
            await self.limiter.clear(counter.limit, counter.kind, counter.value)


class RecipientLimit:
    """How many emails anonymous requests (register, resend verification, forgot
    password) may send one address (``EMAIL_RECIPIENT_LIMIT``, e.g. one a minute and
    five an hour), so the shop cannot be made to flood an inbox."""

    def __init__(self, redis_url: str, redis: Redis, limits: str) -> None:
        self.limiter = MovingWindowRateLimiter(_storage(redis, redis_url, "auth-mail"))
        self.limits = parse_many(limits)

    async def allow(self, email: str) -> bool:
        """Takes one email from the address's allowance; False when none is left."""
        recipient = _hashed(email)
        for limit in self.limits:
            if not await self.limiter.hit(limit, "recipient", recipient):
                log.info("email not sent: the recipient's allowance is used up")
                return False
        return True
