"""Rate limits at the edge, counted in Redis by the `limits` library.

Every proxied request counts against its client IP (X-Forwarded-For believed only
from trusted proxies) and, when the gateway verified a bearer token, against the
user too; each in the budget of its route group (``RATE_LIMIT_AUTH`` for
/api/v1/auth/*, ``RATE_LIMIT_DEFAULT`` elsewhere). Health, metrics and docs are
not proxied, so never limited.

Fixed windows: an atomic increment per key, a window starting at its first hit.
A client may burst up to twice its budget across a window's end; the price of
counting in O(1). The increment (the `limits` storage's) answers the count, so
RateLimit-Remaining costs nothing more; when the window ends (RateLimit-Reset) is
remembered per key in the process: learnt from the first hit of a window, or
asked of Redis once per window and key when another gateway instance opened it.

A key far from its budget is counted in the process and its hits sent to Redis
in one pipelined round trip every ``RATE_LIMIT_SYNC_SECONDS`` (a round trip per
request was a third of a proxied read's CPU); near its budget, and for small
budgets, each hit is counted in Redis before it is answered: see
:mod:`shop.gateway.rate_counts`. ``RATE_LIMIT_SYNC_SECONDS=0`` counts every hit
in Redis.

When Redis fails, limits fail open: the request is served, a warning logged and
``gateway_rate_limit_errors_total`` counted. (Session checks of tokens need the
same Redis and still fail closed: they are the identity module's.)
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import cast

import structlog
from fastapi import FastAPI
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from prometheus_client import Counter
from redis.asyncio import Redis
from starlette.types import Scope

from shop.gateway.rate_counts import KeyCounts
from shop.kit.clients import Proxies, client_key, scope_client_ip
from shop.kit.errors import ShopError
from shop.kit.health import ReadinessCheck
from shop.kit.resource import Resource

log = structlog.get_logger("shop.gateway.ratelimit")

AUTH_PREFIX = "/api/v1/auth"
# How long shutdown waits for the last send of the hits counted in the process.
SHUTDOWN_SECONDS = 5.0


@dataclass(frozen=True)
class Verdict:
    """One limit's state after a hit."""

    limit: RateLimitItem
    allowed: bool
    remaining: int
    reset_at: float

    def reset_in(self) -> int:
        return max(0, math.ceil(self.reset_at - time.time()))

    def headers(self) -> dict[str, str]:
        """The RateLimit-* fields (draft-ietf-httpapi-ratelimit-headers)."""
        return {
            "RateLimit-Limit": str(self.limit.amount),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_in()),
        }

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """:meth:`headers` as raw pairs (lower-case names), to set on an answer."""
        return [(name.lower().encode(), value.encode()) for name, value in self.headers().items()]


class RateLimitedError(ShopError):
    status = 429
    title = "Too many requests"
    type_slug = "rate-limited"

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("Too many requests. Try again later.")
        self.verdict = verdict

    def headers(self) -> dict[str, str]:
        headers = self.verdict.headers()
        return headers | {"Retry-After": str(max(1, int(headers["RateLimit-Reset"])))}


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        default: str,
        auth: str,
        trusted_proxies: Proxies,
        errors: Counter,
        sync_seconds: float = 0.0,
    ) -> None:
        self.redis = redis
        # The app's own connection pool: its timeouts, and closed with it.
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix="gateway-rate",
            wrap_exceptions=True,
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self.storage = storage
        self.default = parse(default)
        self.auth = parse(auth)
        self.trusted_proxies = trusted_proxies
        self.errors = errors
        self.sync_seconds = sync_seconds
        self.counts = KeyCounts()

    def group(self, path: str) -> tuple[str, RateLimitItem]:
        if path == AUTH_PREFIX or path.startswith(AUTH_PREFIX + "/"):
            return "auth", self.auth
        return "default", self.default

    async def _hit(self, path: str, kind: str, value: str) -> Verdict | None:
        name, limit = self.group(path)
        key = limit.key_for(name, kind, value)
        now = time.time()
        if self.sync_seconds:
            here = self.counts.hit_here(key, limit.amount, now)
            if here is not None:
                count, window_end = here
                return Verdict(limit, True, limit.amount - count, window_end)
        # With the hits counted here and not yet sent: the count is then the shared one.
        hits = 1 + self.counts.take_unsent(key, now)
        expiry = limit.get_expiry()
        try:
            # What FixedWindowRateLimiter.hit does, keeping the count it drops.
            count = await self.storage.incr(key, expiry, hits)
            now = time.time()
            # Over `hits`: the window was open already, and this process may know its end.
            reset_at = self.counts.window_end(key, now) if count > hits else None
            if reset_at is None:  # this hit opened the window, or another process did
                reset_at = now + expiry if count == hits else await self.storage.get_expiry(key)
            self.counts.counted(key, count, reset_at, expiry, now)
        except Exception as exc:  # Redis down or confused: serve rather than refuse.
            self.errors.inc()
            log.warning("rate limit not checked, request let through", error=repr(exc))
            return None
        return Verdict(limit, count <= limit.amount, max(0, limit.amount - count), reset_at)

    async def sync(self) -> None:
        """Adds the hits counted here in Redis, every key in one pipelined round trip."""
        batch = self.counts.drain(time.time())
        if not batch:
            return
        # The storage's redis-py bridge: implementation="redispy" above.
        bridge = cast(RedispyBridge, self.storage.bridge)
        pipeline = self.redis.pipeline(transaction=False)
        try:
            for unsent in batch:
                # The storage's own increment (limits' script), queued in the pipeline
                # (typed as the synchronous client's script; it is redis.asyncio's).
                await bridge.lua_incr_expire(
                    [bridge.prefixed_key(unsent.key)],
                    [unsent.expiry, unsent.hits],
                    client=pipeline,  # type: ignore[arg-type]
                )
            counts = await pipeline.execute()
        except Exception as exc:  # as for a hit: the requests were served, uncounted
            self.errors.inc(len(batch))
            log.warning("rate limit counts not sent", keys=len(batch), error=repr(exc))
            return
        for unsent, count in zip(batch, counts, strict=True):
            self.counts.synced(unsent, int(count))

    async def sync_until(self, stop: asyncio.Event) -> None:
        """Sends the hits counted here every ``sync_seconds`` until ``stop`` is set, then
        once more. Stopped by the event, not by cancelling: a cancellation that lands in
        the middle of a Redis call can come out of the client as another error."""
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.sync_seconds)
            await self.sync()

    async def _count(self, scope: Scope, kind: str, value: str) -> Verdict | None:
        # The route group by the scope's path (see shop.gateway.forwarding): no URL parsed.
        verdict = await self._hit(scope["path"], kind, value)
        if verdict is not None and not verdict.allowed:
            raise RateLimitedError(verdict)
        return verdict

    async def check_client(self, scope: Scope) -> Verdict | None:
        """Counts the request against its client IP (an IPv6 client's /64); raises
        :class:`RateLimitedError` when over budget. ``None`` when it could not be counted."""
        client = client_key(scope_client_ip(scope, self.trusted_proxies))
        return await self._count(scope, "ip", client)

    async def check_user(self, scope: Scope, user_id: str) -> Verdict | None:
        """Counts the request against a signed-in user, as :meth:`check_client` does."""
        return await self._count(scope, "user", user_id)

    async def check(self, scope: Scope, user_id: str | None = None) -> Verdict | None:
        """Counts the request against its client IP and, given a verified ``user_id``,
        against that user; raises :class:`RateLimitedError` when either is over budget.
        The tightest verdict (for the RateLimit-* headers), ``None`` when the request
        could not be counted."""
        verdicts = [await self.check_client(scope)]
        if user_id is not None:
            verdicts.append(await self.check_user(scope, user_id))
        return tightest(*verdicts)


def tightest(*verdicts: Verdict | None) -> Verdict | None:
    """The verdict closest to its limit: the one a client should heed."""
    return min(
        (verdict for verdict in verdicts if verdict is not None),
        key=lambda verdict: (verdict.remaining, -verdict.reset_at),
        default=None,
    )


def error_counter(app: FastAPI) -> Counter:
    """The app's count of unlimited requests, in its metrics registry (made once)."""
    errors: Counter | None = getattr(app.state, "rate_limit_errors", None)
    if errors is None:
        errors = Counter(
            "gateway_rate_limit_errors",
            "Requests let through unlimited because the rate limit store failed.",
            registry=app.state.metrics.registry,
        )
        app.state.rate_limit_errors = errors
    return errors


def rate_limit_resource(
    *, default: str, auth: str, trusted_proxies: Proxies, sync_seconds: float = 0.0
) -> Resource:
    """Puts a :class:`RateLimiter` at ``app.state.rate_limiter``, on ``app.state.redis``:
    list the Redis resource before this one. With ``sync_seconds``, a task sends the
    hits counted in the process that often, and once more at shutdown."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        limiter = RateLimiter(
            app.state.redis,
            default=default,
            auth=auth,
            trusted_proxies=trusted_proxies,
            errors=error_counter(app),
            sync_seconds=sync_seconds,
        )
        app.state.rate_limiter = limiter
        if not sync_seconds:
            yield {}
            return
        stop = asyncio.Event()
        task = asyncio.create_task(limiter.sync_until(stop), name="rate_limit_sync")
        try:
            yield {}
        finally:
            stop.set()
            try:
                async with asyncio.timeout(SHUTDOWN_SECONDS):
                    await task
            except TimeoutError:
                task.cancel()
                log.warning("rate limit counts not sent at shutdown: Redis did not answer")

    return resource
