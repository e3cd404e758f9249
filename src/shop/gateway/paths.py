"""No path escapes its prefix: requests whose path could be read two ways are refused.

The gateway routes on the decoded path and forwards the raw one (the bytes the
client sent). Whatever could make the service, an HTTP client or a proxy on the
way resolve the path to something other than what the gateway routed is
answered 400 (problem) before routing:

- a ``.`` or ``..`` segment, literal or percent-encoded (``%2e``, ``%2E``,
  ``.%2e`` ...), also where an encoded slash or a backslash (literal or
  ``%5c``) would make one (``..%2f``, ``..\\``): clients and servers that
  normalise dot segments would climb out of the prefix the gateway matched;
- an encoded slash or backslash (``%2f``, ``%5c``) anywhere before the end of
  a proxied prefix, or on any path the gateway answers itself: it would route
  differently once decoded. Past a proxied prefix (``/api/v1/products/a%2Fb``)
  it is one segment of the service's own path, forwarded as it is.

The proxy then sends exactly the raw path it routed (see
:mod:`shop.gateway.proxy`: httpx would otherwise normalise dot segments and
re-quote it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from shop.kit.errors import problem_response

# A segment that is "." or ".." once decoded; "/" and "\" both separate (some servers
# treat a backslash as a slash).
_SEPARATORS = re.compile(r"[/\\]")
_DOT_SEGMENTS = frozenset({".", ".."})
_ENCODED_SEPARATOR = re.compile(rb"%(2f|5c)", re.IGNORECASE)

PROBLEM_TYPE = "https://shop.dev/problems/ambiguous-path"


def has_dot_segment(decoded_path: str) -> bool:
    return any(segment in _DOT_SEGMENTS for segment in _SEPARATORS.split(decoded_path))


def encoded_separator_changes_routing(raw_path: bytes, prefixes: Iterable[str]) -> bool:
    """Whether an encoded slash or backslash sits where the gateway routes: anywhere,
    unless the raw path starts with a proxied prefix and a literal "/", and every
    encoded separator comes after that."""
    first = _ENCODED_SEPARATOR.search(raw_path)
    if first is None:
        return False
    for prefix in prefixes:
        head = prefix.encode() + b"/"
        if raw_path.startswith(head) and first.start() >= len(head):
            return False
    return True


def ambiguity(scope: Scope, prefixes: Iterable[str]) -> str | None:
    """Why the request's path is refused, or None if it is not."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    raw_path = raw_path.split(b"?", 1)[0]  # some servers leave the query in raw_path
    if has_dot_segment(scope["path"]) or has_dot_segment(raw_path.decode("latin-1")):
        return "The path has a '.' or '..' segment (literal or percent-encoded)."
    if encoded_separator_changes_routing(raw_path, prefixes):
        return "The path has an encoded slash or backslash where it would change routing."
    return None


class PathGuardMiddleware:
    """Answers 400 to any request whose path is ambiguous (see the module's doc);
    ``prefixes`` are the proxied ones (shop.gateway.upstreams.ROUTES)."""

    def __init__(self, app: ASGIApp, prefixes: Iterable[str]) -> None:
        self.app = app
        # Longest first: "/api/v1/products" before a shorter prefix of it.
        self.prefixes = sorted(prefixes, key=len, reverse=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (reason := ambiguity(scope, self.prefixes)):
            response = problem_response(
                400, title="Ambiguous path", detail=reason, type_=PROBLEM_TYPE
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
