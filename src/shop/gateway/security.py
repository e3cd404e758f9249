"""Browser-facing protection at the edge: CORS and security headers on every response.

Every response (proxied, the gateway's own problems, CORS preflights) carries
``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer`` and a Content-Security-Policy: for the API a
policy that allows nothing (JSON and images need none), for ``/docs`` one that
lets Swagger UI load its script and styles from jsDelivr and run its inline
start-up script, for the dashboard (``/admin``) one that allows its own
stylesheet and forms and no script. These replace whatever a service set: the
edge decides.

``Strict-Transport-Security`` goes only on responses to requests that came over
HTTPS: the gateway's own TLS, or a trusted proxy (``TRUSTED_PROXIES``) saying so
in ``X-Forwarded-Proto`` (its last value: the one the nearest proxy added). A
client's own claim is ignored, and TLS is normally terminated in front of the
gateway, which then must be a trusted proxy that sets ``X-Forwarded-Proto``.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.gateway.raw_headers import replaced
from shop.kit.clients import Proxies
from shop.kit.errors import problem_response

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SWAGGER_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    "default-src 'none'; "
    f"script-src {SWAGGER_CDN} 'unsafe-inline'; "
    f"style-src {SWAGGER_CDN} 'unsafe-inline'; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = frozenset({"/docs"})
# The dashboard (/admin): its own stylesheet, its forms posting to itself, product
# pictures from the media path or a storage bucket; no script at all.
ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data: https:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ADMIN_PREFIX = "/admin"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

# What browsers may send and read cross-origin.
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-Order-Token",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Request-ID",
]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            found: str = value.decode("latin-1")
            return found
    return None


def came_over_https(scope: Scope, trusted_proxies: Proxies) -> bool:
    if scope.get("scheme") == "https":
        return True
    if not trusted_proxies:
        return False
    client = scope.get("client")
    try:
        peer = ip_address(client[0]) if client else None
    except ValueError:
        peer = None
    if peer is None or not any(peer in network for network in trusted_proxies):
        return False
    forwarded = _header(scope, b"x-forwarded-proto") or ""
    return forwarded.rsplit(",", 1)[-1].strip().lower() == "https"


class EdgeHeaders:
    """The security headers of the answer to a request: the same for every answer of
    one path, plus HSTS when the request came over HTTPS."""

    def __init__(self, trusted_proxies: Proxies, hsts_max_age: int) -> None:
        self.trusted_proxies = trusted_proxies
        self.hsts = (
            (b"strict-transport-security", f"max-age={hsts_max_age}; includeSubDomains".encode())
            if hsts_max_age
            else None
        )
        always = [(name.lower().encode(), value.encode()) for name, value in ALWAYS.items()]
        self._by_policy = {
            csp: [*always, (b"content-security-policy", csp.encode())]
            for csp in (API_CSP, DOCS_CSP, ADMIN_CSP)
        }

    def for_request(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """The raw pairs to set on the answer to ``scope`` (lower-case names)."""
        path = scope["path"]
        if path in DOCS_PATHS:
            csp = DOCS_CSP
        elif path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            csp = ADMIN_CSP
        else:
            csp = API_CSP
        pairs = self._by_policy[csp]
        if self.hsts and came_over_https(scope, self.trusted_proxies):
            return [*pairs, self.hsts]
        return pairs


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Proxies, hsts_max_age: int) -> None:
        self.app = app
        self.edge = EdgeHeaders(trusted_proxies, hsts_max_age)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pairs = self.edge.for_request(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = replaced(message.get("headers", ()), pairs)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ExactOriginCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, except that an origin not listed gets no CORS headers at all
    (Starlette would still send the allowed methods, credentials and exposed headers):
    its preflight is refused with a problem, its other requests pass untouched."""

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if (
            message["type"] == "http.response.start"
            and origin
            and not self.is_allowed_origin(origin)
        ):
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
            await send(message)
            return
        await super().send(message, send, request_headers)

    def preflight_response(self, request_headers: Headers) -> Response:
        if not self.is_allowed_origin(request_headers["origin"]):
            return problem_response(
                403, title="Origin not allowed", detail="This origin may not call the API."
            )
        return super().preflight_response(request_headers)


def _cors_options(origins: list[str], max_age: int) -> dict[str, Any]:
    return {
        "allow_origins": origins,
        "allow_credentials": True,
        "allow_methods": CORS_METHODS,
        "allow_headers": CORS_REQUEST_HEADERS,
        "expose_headers": CORS_EXPOSED_HEADERS,
        "max_age": max_age,
    }


def cors_middleware(origins: list[str], max_age: int) -> list[Middleware]:
    """CORS for exactly ``origins``, with credentials; nothing at all when there are none."""
    if not origins:
        return []
    return [Middleware(ExactOriginCORSMiddleware, **_cors_options(origins, max_age))]


def cors_policy(origins: list[str], max_age: int) -> ExactOriginCORSMiddleware | None:
    """The same CORS as :func:`cors_middleware`, for :mod:`shop.gateway.fast_path`, which
    calls its ``send`` on every answer it gives (``None`` when there are no origins)."""
    if not origins:
        return None
    return ExactOriginCORSMiddleware(_no_app, **_cors_options(origins, max_age))


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the fast path's CORS policy only sets headers")
