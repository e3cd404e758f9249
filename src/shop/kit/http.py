"""The HTTP client services use to call each other.

One pooled :class:`httpx.AsyncClient` per process and upstream, with explicit
timeouts, that forwards the current request ID so a request can be followed
across services in the logs.
"""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx
import structlog

from shop.kit.tracing import instrument_http_client

DEFAULT_TIMEOUT = httpx.Timeout(connect=2.0, read=10.0, write=10.0, pool=2.0)
# A client drops an idle pooled connection after this long; the services keep theirs
# open longer (shop.cli.serve.SERVICE_KEEP_ALIVE_SECONDS). Were it the other way round,
# a service could close a connection just as a caller sent a request on it, and a POST
# on a connection closed under it is not retried: the caller sees a 502.
CLIENT_KEEPALIVE_SECONDS = 5.0
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=CLIENT_KEEPALIVE_SECONDS
)


async def _forward_request_id(request: httpx.Request) -> None:
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = str(request_id)


class NoCookies(CookieJar):
    """A cookie jar that keeps nothing. A shared client would otherwise store the
    cookies a service sets in answer to one caller (a session) and send them with
    every later request, anyone's; it would also parse every answer's headers
    looking for them. The gateway relays Set-Cookie to its client as it is."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return

    def set_cookie(self, cookie: Cookie) -> None:
        return


def create_http_client(
    base_url: str = "",
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    limits: httpx.Limits = DEFAULT_LIMITS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A pooled client; close it when the app stops (``await client.aclose()``). With
    tracing on, its calls are spans and carry ``traceparent``."""
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        limits=limits,
        transport=transport,  # when given, it carries the limits itself
        event_hooks={"request": [_forward_request_id]},
        follow_redirects=False,
    )
    client.cookies = NoCookies()
    instrument_http_client(client)
    return client
