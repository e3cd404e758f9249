"""Reverse proxy to the services: streams request bodies and large answers, over pooled connections.

An instance that cannot be reached is skipped for the next one (the request
has not been sent yet, so this is safe for any method) and ejected for a
cool-down (see :class:`~shop.gateway.upstreams.Upstream`); when none can be
reached the answer is 503, and an instance too slow to answer gives 504.

An instance that fails after the request was sent (the connection reset, a
broken answer) may have acted on it. Only an idempotent request without a body
is then sent again, once, to another instance: a body was streamed to the first
and is gone, and a POST or PATCH sent twice could do its work twice. A timeout is
never retried: the instance may still be working on it, and a retry would double
both the wait and the load on a service already too slow.

A small answer (a ``Content-Length`` of at most :data:`BUFFERED_MAX_BYTES`, or a
HEAD) is read whole and relayed as one plain response, which costs the gateway
much less than a streamed one; larger and chunked answers (images, big pages)
stream through. A small answer that breaks off before it is complete is a
failure after the request was sent, like one that never began (see above).

At most ``UPSTREAM_MAX_CONNECTIONS`` requests are out to the services at once
(a slot each, held until the answer is relayed); one more waits for a slot up to
the connect timeout, then is refused (503, "saturated") without counting against
any instance. How one request is sent, and which failure is which, is
:mod:`shop.gateway.upstream_client`. With tracing on, each call is a client span
whose context the service continues (``traceparent``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import structlog
from prometheus_client import Counter
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.types import Scope

from shop.gateway.security import came_over_https
from shop.gateway.upstream_client import (
    Answer,
    Broken,
    Failed,
    Outgoing,
    TimedOut,
    Unreachable,
    UpstreamClient,
    UpstreamFailure,
)
from shop.gateway.upstreams import Lease, Upstream
from shop.kit.clients import Proxies, scope_client_ip
from shop.kit.errors import ShopError, UpstreamTimeoutError, UpstreamUnavailableError
from shop.kit.tracing import client_span

log = structlog.get_logger("shop.gateway.proxy")

# Connection-level headers that must not be forwarded (RFC 9110, section 7.6.1),
# plus those the gateway sets itself, and those that only services and proxies
# inside the system may send: a client's must never reach a service.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED_REQUEST = HOP_BY_HOP | {
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    # Set to the request's ID instead: the client's own would arrive next to it (and
    # first, even when the gateway found it unusable and made a new one).
    "x-request-id",
    # The internal API's shared secret: only services present it, to each other.
    "x-service-token",
    # What proxies say about the client, the request or its original URL: set by the
    # gateway (above) or by no one; a service or its framework might believe them.
    "forwarded",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-ssl",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
}
NOT_FORWARDED_RESPONSE = HOP_BY_HOP | {"date", "server", "x-request-id"}
_NOT_FORWARDED_REQUEST_BYTES = frozenset(name.encode() for name in NOT_FORWARDED_REQUEST)
_NOT_FORWARDED_RESPONSE_BYTES = frozenset(name.encode() for name in NOT_FORWARDED_RESPONSE)

# Answers up to this size are read whole and relayed in one piece; larger ones stream.
BUFFERED_MAX_BYTES = 256 * 1024

# Idempotent methods (RFC 9110, section 9.2.2), retried when they carry no body.
RETRIED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class BadGatewayError(ShopError):
    status = 502
    title = "Bad gateway"
    type_slug = "bad-gateway"


def connection_options(values: Iterable[bytes]) -> set[bytes]:
    """The headers a Connection header names: hop-by-hop too (RFC 9110, section 7.6.1)."""
    return {option.strip().lower() for value in values for option in value.split(b",")}


def has_body(scope: Scope) -> bool:
    """Whether the client sends a body. Without one, streaming would still send the
    service a (chunked, empty) one, even on a GET. "Content-Length: 0" (a PUT without
    a body) is forwarded as it is, with nothing to stream."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def forwarded_headers(
    scope: Scope, request_id: str, trusted_proxies: Proxies = ()
) -> list[tuple[bytes, bytes]]:
    # The raw pairs of the ASGI scope: names already lower case, values the bytes the
    # client sent (httpx would refuse a str header value that is not ASCII).
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    dropped = _NOT_FORWARDED_REQUEST_BYTES
    options = [value for name, value in raw if name == b"connection"]
    if options:
        dropped = dropped | connection_options(options)
    headers = [(name, value) for name, value in raw if name not in dropped]
    # One address: the client as far as trusted proxies vouch for it (by default, the peer).
    headers.append((b"x-forwarded-for", scope_client_ip(scope, trusted_proxies).encode("latin-1")))
    # HTTPS when the gateway's own TLS or a trusted proxy in front of it says so (the
    # dashboard marks its cookie Secure by it); a client's own claim is not passed on.
    scheme = b"https" if came_over_https(scope, trusted_proxies) else b"http"
    headers.append((b"x-forwarded-proto", scheme))
    for name, value in raw:
        if name == b"host":
            if value:
                headers.append((b"x-forwarded-host", value))
            break
    headers.append((b"x-request-id", request_id.encode("latin-1")))
    return headers


def relayed_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's headers to relay, as raw pairs, so repeated ones (Set-Cookie)
    survive."""
    dropped = _NOT_FORWARDED_RESPONSE_BYTES
    options = [value for name, value in raw if name.lower() == b"connection"]
    if options:
        dropped = dropped | connection_options(options)
    return [(name, value) for name, value in raw if name.lower() not in dropped]


def buffered(answer: Answer, method: str) -> bool:
    """Whether the answer is small enough to be read whole: it says how long it is
    (or has no body at all: HEAD), and that is at most BUFFERED_MAX_BYTES."""
    if method == "HEAD":
        return True
    for name, value in answer.headers:
        if name.lower() == b"content-length":
            return value.isdigit() and int(value) <= BUFFERED_MAX_BYTES
    return False


class Held:
    """What a streamed answer holds until it has been relayed or abandoned: its
    instance's lease and one of the proxy's slots. Released once, whichever comes first."""

    __slots__ = ("_lease", "_slots")

    def __init__(self, lease: Lease, slots: asyncio.Semaphore) -> None:
        self._lease: Lease | None = lease
        self._slots = slots

    def release(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._slots.release()
            self._lease = None


async def relayed(answer: Answer, held: Held) -> AsyncIterator[bytes]:
    """The upstream's body; the instance is no longer loaded by this request once it
    has all been relayed, or the client has gone."""
    try:
        async for chunk in answer.chunks():
            yield chunk
    finally:
        held.release()
        await answer.close()


async def close(answer: Answer, held: Held) -> None:
    held.release()
    await answer.close()


class Proxy:
    """Forwards requests with ``client``, holding at most ``max_connections`` upstream
    requests at once: one more waits up to ``pool_timeout`` seconds for one to end,
    then is refused (503) without counting against any instance."""

    def __init__(
        self,
        client: UpstreamClient,
        *,
        max_connections: int,
        pool_timeout: float,
        trusted_proxies: Proxies = (),
        retries: Counter | None = None,
    ) -> None:
        self.client = client
        self.slots = asyncio.Semaphore(max_connections)
        self.pool_timeout = pool_timeout
        self.trusted_proxies = trusted_proxies
        self.retries = retries

    async def _take_slot(self, upstream: Upstream) -> None:
        if not self.slots.locked():
            await self.slots.acquire()  # at once
            return
        try:
            async with asyncio.timeout(self.pool_timeout):
                await self.slots.acquire()
        except TimeoutError as exc:
            raise UpstreamUnavailableError(f"The {upstream.name} service is saturated.") from exc

    async def forward(
        self,
        scope: Scope,
        upstream: Upstream,
        *,
        request_id: str,
        body: AsyncIterator[bytes] | None,
    ) -> Response:
        """The answer to the request of ``scope``, whose ``body`` is streamed (``None``:
        it has none, see :func:`has_body`)."""
        # The path as the client encoded it (decoded, "a%2Fb" would become two
        # segments), which shop.gateway.paths has found unambiguous.
        target: bytes = scope.get("raw_path") or scope["path"].encode()
        if query := scope.get("query_string"):
            target += b"?" + query
        headers = forwarded_headers(scope, request_id, self.trusted_proxies)
        method: str = scope["method"]
        may_retry = method in RETRIED_METHODS and body is None
        await self._take_slot(upstream)
        response: Response | None = None
        try:
            response = await self._send(method, upstream, target, headers, body, may_retry)
            return response
        finally:
            # A streamed answer gives its slot back once relayed (Held).
            if not isinstance(response, StreamingResponse):
                self.slots.release()

    async def _send(
        self,
        method: str,
        upstream: Upstream,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None,
        may_retry: bool,
    ) -> Response:
        """The answer of the first instance that gives one, sent on the slot
        :meth:`forward` took."""
        failure: UpstreamFailure | None = None  # after the request was sent
        for base_url in upstream.order():
            lease = upstream.lease(base_url)
            streaming = False  # the lease then lasts until the body is relayed
            content: bytes | None = None
            outgoing = Outgoing(method, base_url, target, headers, body)
            try:
                with client_span(method, base_url, target) as span:
                    outgoing.headers = span.carry(headers)
                    answer = await self.client.send(outgoing)
                    span.answered(answer.status)
                if buffered(answer, method):
                    content = await answer.read()
                else:
                    streaming = True
            except Unreachable as exc:
                upstream.eject(base_url)
                log.warning(
                    "upstream unreachable, ejected",
                    upstream=upstream.name,
                    url=base_url,
                    seconds=upstream.eject_seconds,
                    error=str(exc),
                )
                continue
            except TimedOut as exc:
                log.warning("upstream timed out", upstream=upstream.name, url=base_url)
                raise UpstreamTimeoutError(
                    f"The {upstream.name} service did not answer in time."
                ) from exc
            except Broken as exc:
                ejected = upstream.request_failed(base_url)
                retry = may_retry and failure is None
                log.warning(
                    "upstream failed",
                    upstream=upstream.name,
                    url=base_url,
                    error=str(exc),
                    ejected=ejected,
                    retry=retry,
                )
                if not retry:
                    raise BadGatewayError(f"The {upstream.name} service failed to answer.") from exc
                failure = exc
                if self.retries is not None:
                    self.retries.labels(upstream.name).inc()
                continue
            except Failed as exc:
                log.warning("upstream failed", upstream=upstream.name, url=base_url, error=str(exc))
                raise BadGatewayError(f"The {upstream.name} service failed to answer.") from exc
            finally:
                if not streaming:
                    lease.release()
            upstream.restore(base_url)
            if content is not None:
                whole = Response(content, status_code=answer.status)
                whole.raw_headers = relayed_headers(answer.headers)
                return whole
            held = Held(lease, self.slots)
            streamed = StreamingResponse(
                relayed(answer, held),
                status_code=answer.status,
                # Also when the body is never iterated (the client went before it began).
                background=BackgroundTask(close, answer, held),
            )
            streamed.raw_headers = relayed_headers(answer.headers)
            return streamed
        if failure is not None:
            # The one retry found no other instance to go to.
            raise BadGatewayError(f"The {upstream.name} service failed to answer.") from failure
        raise UpstreamUnavailableError(f"The {upstream.name} service is unavailable.")
