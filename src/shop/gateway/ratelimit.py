"""Rate limits at the edge, counted in Redis by the `limits` library.

Every proxied request counts against its client IP (X-Forwarded-For believed only
from trusted proxies) and, when the gateway verified a bearer token, against the
user too; each in the budget of its route group (``RATE_LIMIT_AUTH`` for
/api/v1/auth/*, ``RATE_LIMIT_DEFAULT`` elsewhere). Health, metrics and docs are
not proxied, so never limited.

Fixed windows: one atomic increment per key and request, a window starting at
its first hit. A client may burst up to twice its budget across a window's end;
the price of counting in O(1). The increment (the `limits` storage's) answers
the count, so RateLimit-Remaining costs nothing more; when the window ends
(RateLimit-Reset) is remembered per key in the process: learnt from the first
hit of a window, or asked of Redis once per window and key when another
gateway instance opened it. One Redis round trip per key and request, not three.

When Redis fails, limits fail open: the request is served, a warning logged and
``gateway_rate_limit_errors_total`` counted. (Session checks of tokens need the
same Redis and still fail closed: they are the identity module's.)
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from prometheus_client import Counter
from redis.asyncio import Redis
from starlette.requests import Request

from shop.kit.clients import Proxies, client_ip, client_key
from shop.kit.errors import ShopError
from shop.kit.health import ReadinessCheck
from shop.kit.resource import Resource

log = structlog.get_logger("shop.gateway.ratelimit")

AUTH_PREFIX = "/api/v1/auth"


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
    ) -> None:
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
        self.window_ends = WindowEnds()

    def group(self, path: str) -> tuple[str, RateLimitItem]:
        if path == AUTH_PREFIX or path.startswith(AUTH_PREFIX + "/"):
            return "auth", self.auth
        return "default", self.default

    async def _hit(self, path: str, kind: str, value: str) -> Verdict | None:
        name, limit = self.group(path)
        key = limit.key_for(name, kind, value)
        try:
            # What FixedWindowRateLimiter.hit does, keeping the count it drops.
            count = await self.storage.incr(key, limit.get_expiry())
            now = time.time()
            reset_at = self.window_ends.get(key, now) if count > 1 else None
            if reset_at is None:  # this hit opened the window, or another process did
                end = now + limit.get_expiry() if count == 1 else await self.storage.get_expiry(key)
                reset_at = self.window_ends.opened(key, end)
        except Exception as exc:  # Redis down or confused: serve rather than refuse.
            self.errors.inc()
            log.warning("rate limit not checked, request let through", error=repr(exc))
            return None
        return Verdict(limit, count <= limit.amount, max(0, limit.amount - count), reset_at)

    async def _count(self, request: Request, kind: str, value: str) -> Verdict | None:
        # The route group by the scope's path (see shop.gateway.app.forward_to): no URL parsed.
        verdict = await self._hit(request.scope["path"], kind, value)
        if verdict is not None and not verdict.allowed:
            raise RateLimitedError(verdict)
        return verdict

    async def check_client(self, request: Request) -> Verdict | None:
        """Counts the request against its client IP (an IPv6 client's /64); raises
        :class:`RateLimitedError` when over budget. ``None`` when it could not be counted."""
        client = client_key(client_ip(request, self.trusted_proxies))
        return await self._count(request, "ip", client)

    async def check_user(self, request: Request, user_id: str) -> Verdict | None:
        """Counts the request against a signed-in user, as :meth:`check_client` does."""
        return await self._count(request, "user", user_id)

    async def check(self, request: Request, user_id: str | None = None) -> Verdict | None:
        """Counts the request against its client IP and, given a verified ``user_id``,
        against that user; raises :class:`RateLimitedError` when either is over budget.
        The tightest verdict (for the RateLimit-* headers), ``None`` when the request
        could not be counted."""
        verdicts = [await self.check_client(request)]
        if user_id is not None:
            verdicts.append(await self.check_user(request, user_id))
        return tightest(*verdicts)


class WindowEnds:
    """When each key's current window ends (epoch seconds), as far as this process
    knows; at most ``capacity`` keys, the ended windows dropped first."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._ends: dict[str, float] = {}

    def get(self, key: str, now: float) -> float | None:
        end = self._ends.get(key)
        return end if end is not None and end > now else None

    def opened(self, key: str, end: float) -> float:
        if len(self._ends) >= self.capacity and key not in self._ends:
            now = time.time()
            self._ends = {k: v for k, v in self._ends.items() if v > now}
            if len(self._ends) >= self.capacity:  # all live: forget the oldest half
                self._ends = dict(list(self._ends.items())[self.capacity // 2 :])
        self._ends[key] = end
        return end


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


def rate_limit_resource(*, default: str, auth: str, trusted_proxies: Proxies) -> Resource:
    """Puts a :class:`RateLimiter` at ``app.state.rate_limiter``, on ``app.state.redis``:
    list the Redis resource before this one."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        app.state.rate_limiter = RateLimiter(
            app.state.redis,
            default=default,
            auth=auth,
            trusted_proxies=trusted_proxies,
            errors=error_counter(app),
        )
        yield {}

    return resource
