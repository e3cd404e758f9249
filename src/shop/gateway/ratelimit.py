"""Rate limits at the edge, counted in Redis by one Lua script (budgets in `limits` notation).

Every proxied request counts against its client IP (X-Forwarded-For believed only
from trusted proxies) and, when the gateway verified a bearer token, against the
user too; each in the budget of its route group (``RATE_LIMIT_AUTH`` for
/api/v1/auth/*, ``RATE_LIMIT_DEFAULT`` elsewhere). Health, metrics and docs are
not proxied, so never limited.

Fixed windows: one atomic increment per key and request, a window starting at
its first hit. A client may burst up to twice its budget across a window's end;
the price of counting in O(1). One Lua script counts a request against all its
keys and reads their windows back: one Redis round trip per request, whether it
counts against the address alone or against the address and the user.

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
from prometheus_client import Counter
from redis.asyncio import Redis
from starlette.requests import Request

from shop.kit.app import Resource
from shop.kit.clients import Proxies, client_ip
from shop.kit.errors import ShopError
from shop.kit.health import ReadinessCheck

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


# KEYS: the counters; ARGV[1]: the window in milliseconds. Each counter is
# incremented, and a new one (or one that lost its expiry) gets the window; the
# answer is each counter's count and remaining milliseconds, in KEYS order.
HIT_SCRIPT = """
local out = {}
for _, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if count == 1 or ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = count
  out[#out + 1] = ttl
end
return out
"""


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
        # The app's own client: its connection pool and timeouts, and closed with it.
        self.script = redis.register_script(HIT_SCRIPT)
        self.default = parse(default)
        self.auth = parse(auth)
        self.trusted_proxies = trusted_proxies
        self.errors = errors

    def group(self, path: str) -> tuple[str, RateLimitItem]:
        if path == AUTH_PREFIX or path.startswith(AUTH_PREFIX + "/"):
            return "auth", self.auth
        return "default", self.default

    async def _hit(self, path: str, counted: list[tuple[str, str]]) -> list[Verdict]:
        """Counts one request against each ``(kind, value)``, in one round trip."""
        name, limit = self.group(path)
        window_ms = limit.get_expiry() * 1000
        keys = [
            f"gateway-rate:{name}:{kind}:{value}:{limit.amount}/{window_ms}"
            for kind, value in counted
        ]
        try:
            replies = await self.script(keys=keys, args=[window_ms])
            now = time.time()
            return [
                Verdict(
                    limit,
                    allowed=int(count) <= limit.amount,
                    remaining=max(0, limit.amount - int(count)),
                    reset_at=now + int(ttl_ms) / 1000,
                )
                for count, ttl_ms in zip(replies[::2], replies[1::2], strict=True)
            ]
        except Exception as exc:  # Redis down or confused: serve rather than refuse.
            self.errors.inc()
            log.warning("rate limit not checked, request let through", error=repr(exc))
            return []

    async def check(self, request: Request, user_id: str | None = None) -> Verdict | None:
        """Counts the request against its client IP and, given a verified ``user_id``,
        against that user; raises :class:`RateLimitedError` when either is over budget.
        The tightest verdict (for the RateLimit-* headers), ``None`` when the request
        could not be counted."""
        counted = [("ip", client_ip(request, self.trusted_proxies))]
        if user_id is not None:
            counted.append(("user", user_id))
        verdicts = await self._hit(request.url.path, counted)
        for verdict in verdicts:
            if not verdict.allowed:
                raise RateLimitedError(verdict)
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
