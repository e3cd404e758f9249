"""What the gateway does with a request for a service: judges its token, counts it
against the rate limits, and passes it on (:mod:`shop.gateway.proxy`).

Both ways a request reaches it share this: requests with no body through
:mod:`shop.gateway.fast_path`, the others through the framework's routes
(:func:`shop.gateway.app.proxy_routes`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from shop.gateway.proxy import Proxy
from shop.gateway.ratelimit import RateLimiter
from shop.gateway.raw_headers import replaced
from shop.gateway.upstreams import Upstream
from shop.kit.errors import ShopError
from shop.kit.identity import current_identity

__all__ = ["OPEN_PATHS", "PROXY_METHODS", "pass_on", "route_paths"]

# What the gateway passes on; any other method is 405.
PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# Routes anyone may call. A stale token a client attaches out of habit must not stop
# a login or a refresh, so the gateway does not judge tokens sent to these.
OPEN_PATHS = frozenset(
    "/api/v1/auth/" + path
    for path in (
        "register",
        "login",
        "refresh",
        "verify-email",
        "resend-verification",
        "password/forgot",
        "password/reset",
        ".well-known/jwks.json",
    )
)


def route_paths(prefix: str) -> tuple[str, str]:
    """The route templates of a proxied prefix: the prefix itself, and anything below it.
    The metrics name a proxied request by them, whichever way it went."""
    return prefix, prefix + "/{path:path}"


def _has_authorization(scope: Scope) -> bool:
    return any(name == b"authorization" for name, _ in scope["headers"])


async def pass_on(scope: Scope, upstream: Upstream, body: AsyncIterator[bytes] | None) -> Response:
    """The service's answer to the request of ``scope`` (run inside the app, which
    holds the rate limiter and the proxy); raises :class:`ShopError` for a bad token
    or a client over its budget."""
    state = scope["app"].state
    limiter: RateLimiter = state.rate_limiter
    user_id: str | None = None
    # The scope's path, not a URL's: the same for these prefixes and paths (a URL only
    # escapes "?", "#" and "\\", which none of them has), without parsing a URL.
    if _has_authorization(scope) and scope["path"] not in OPEN_PATHS:
        # A bad token is refused here, before it costs a service anything. The
        # service verifies it again: it trusts nothing a client could forge.
        try:
            user_id = str((await current_identity(Request(scope))).user_id)
        except ShopError:
            # Counted against the address all the same (over its budget: 429): the
            # address bounds how fast tokens can be tried.
            await limiter.check(scope)
            raise
    # The address and the user, in one round trip.
    verdict = await limiter.check(scope, user_id)
    proxy: Proxy = state.proxy
    response = await proxy.forward(
        scope, upstream, request_id=scope["state"]["request_id"], body=body
    )
    if verdict is not None:
        response.raw_headers = replaced(response.raw_headers, verdict.raw_headers())
    return response
