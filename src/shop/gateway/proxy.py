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

Requests go straight to the client's transport (its connection pool), as
``AsyncClient.send`` would pass them on, without the client's layers that do
nothing for a proxied request: authentication, redirects (never followed),
cookies (never kept), event hooks (the request ID is set here) and the elapsed
timer. They still carry the client's default headers and timeouts, and with
tracing on the transport is the instrumented one: each call is a client span
that sends ``traceparent``. About a sixth of the gateway's CPU time per proxied
read went to those layers (bench/README.md, "The gateway hop").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import httpx
import structlog
from prometheus_client import Counter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shop.gateway.security import came_over_https
from shop.gateway.upstreams import Lease, Upstream
from shop.kit.clients import Proxies, client_ip
from shop.kit.errors import ShopError, UpstreamTimeoutError, UpstreamUnavailableError

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


def forwarded_headers(request: Request, trusted_proxies: Proxies = ()) -> list[tuple[bytes, bytes]]:
    # The raw pairs of the ASGI scope: names already lower case, values the bytes the
    # client sent (httpx would refuse a str header value that is not ASCII).
    raw: list[tuple[bytes, bytes]] = request.scope["headers"]
    dropped = _NOT_FORWARDED_REQUEST_BYTES
    options = [value for name, value in raw if name == b"connection"]
    if options:
        dropped = dropped | connection_options(options)
    headers = [(name, value) for name, value in raw if name not in dropped]
    # One address: the client as far as trusted proxies vouch for it (by default, the peer).
    headers.append((b"x-forwarded-for", client_ip(request, trusted_proxies).encode("latin-1")))
    # HTTPS when the gateway's own TLS or a trusted proxy in front of it says so (the
    # dashboard marks its cookie Secure by it); a client's own claim is not passed on.
    scheme = b"https" if came_over_https(request.scope, trusted_proxies) else b"http"
    headers.append((b"x-forwarded-proto", scheme))
    for name, value in raw:
        if name == b"host":
            if value:
                headers.append((b"x-forwarded-host", value))
            break
    headers.append((b"x-request-id", request.state.request_id.encode("latin-1")))
    return headers


def relayed_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    """The upstream's headers to relay, as raw pairs, so repeated ones (Set-Cookie)
    survive."""
    raw = response.headers.raw
    dropped = _NOT_FORWARDED_RESPONSE_BYTES
    options = [value for name, value in raw if name.lower() == b"connection"]
    if options:
        dropped = dropped | connection_options(options)
    return [(name, value) for name, value in raw if name.lower() not in dropped]


def buffered(response: httpx.Response, method: str) -> bool:
    """Whether the answer is small enough to be read whole: it says how long it is
    (or has no body at all: HEAD), and that is at most BUFFERED_MAX_BYTES."""
    if method == "HEAD":
        return True
    length = response.headers.get("content-length")
    return length is not None and length.isdigit() and int(length) <= BUFFERED_MAX_BYTES


async def read_raw(response: httpx.Response) -> bytes:
    """The body as sent (still compressed, if it was), and the connection back in the pool.
    Read from the transport's stream itself: it maps the pool's errors to httpx's as
    ``aiter_raw`` would, without its chunking and state checks."""
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):  # pragma: no cover - a sync transport
        raise TypeError("the upstream transport must be asynchronous")
    try:
        return b"".join([chunk async for chunk in stream])
    finally:
        await stream.aclose()


async def relayed(response: httpx.Response, lease: Lease) -> AsyncIterator[bytes]:
    """The upstream's body; the instance is no longer loaded by this request once it
    has all been relayed, or the client has gone."""
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        lease.release()
        await response.aclose()


async def close(response: httpx.Response, lease: Lease) -> None:
    lease.release()
    await response.aclose()


class Proxy:
    """Forwards requests over ``transport``, the one ``client`` was made with (see the
    module's doc): the client gives its default headers and timeouts."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        transport: httpx.AsyncBaseTransport,
        trusted_proxies: Proxies = (),
        retries: Counter | None = None,
    ) -> None:
        self.transport = transport
        self.timeout = client.timeout.as_dict()
        # What AsyncClient.build_request would add, where the request has none of its own.
        self.default_headers = [(name.lower(), value) for name, value in client.headers.raw]
        self.trusted_proxies = trusted_proxies
        self.retries = retries

    def _with_defaults(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        names = {name for name, _ in headers}
        return [pair for pair in self.default_headers if pair[0] not in names] + headers

    async def forward(self, request: Request, upstream: Upstream) -> Response:
        scope = request.scope
        # The path as the client encoded it (decoded, "a%2Fb" would become two
        # segments), which shop.gateway.paths has found unambiguous.
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        target = raw_path
        if query := scope.get("query_string"):
            target += b"?" + query
        path_and_query = target.decode("latin-1")
        headers = self._with_defaults(forwarded_headers(request, self.trusted_proxies))
        # Without a body from the client, streaming would still send the service a
        # (chunked, empty) one, even on a GET. "Content-Length: 0" (a PUT without a
        # body) is forwarded as it is, with nothing to stream.
        length = request.headers.get("content-length")
        has_body = "transfer-encoding" in request.headers or length not in (None, "0")
        body = request.stream() if has_body else None
        may_retry = request.method in RETRIED_METHODS and not has_body
        failure: httpx.TransportError | None = None  # after the request was sent
        for base_url in upstream.order():
            outgoing = httpx.Request(
                request.method,
                base_url + path_and_query,
                headers=headers,
                content=body,
                # Sent as the request target byte for byte: httpx would normalise dot
                # segments and re-quote the path of the URL (which logs and traces show).
                extensions={"target": target, "timeout": self.timeout},
            )
            lease = upstream.lease(base_url)
            streaming = False  # the lease then lasts until the body is relayed
            content: bytes | None = None
            try:
                response = await self.transport.handle_async_request(outgoing)
                if buffered(response, request.method):
                    content = await read_raw(response)
                else:
                    streaming = True
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                upstream.eject(base_url)
                log.warning(
                    "upstream unreachable, ejected",
                    upstream=upstream.name,
                    url=base_url,
                    seconds=upstream.eject_seconds,
                    error=repr(exc),
                )
                continue
            except httpx.PoolTimeout as exc:
                raise UpstreamUnavailableError(
                    f"The {upstream.name} service is saturated."
                ) from exc
            except httpx.TimeoutException as exc:
                log.warning("upstream timed out", upstream=upstream.name, url=base_url)
                raise UpstreamTimeoutError(
                    f"The {upstream.name} service did not answer in time."
                ) from exc
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                ejected = upstream.request_failed(base_url)
                retry = may_retry and failure is None
                log.warning(
                    "upstream failed",
                    upstream=upstream.name,
                    url=base_url,
                    error=repr(exc),
                    ejected=ejected,
                    retry=retry,
                )
                if not retry:
                    raise BadGatewayError(f"The {upstream.name} service failed to answer.") from exc
                failure = exc
                if self.retries is not None:
                    self.retries.labels(upstream.name).inc()
                continue
            except httpx.TransportError as exc:
                log.warning(
                    "upstream failed", upstream=upstream.name, url=base_url, error=repr(exc)
                )
                raise BadGatewayError(f"The {upstream.name} service failed to answer.") from exc
            finally:
                if not streaming:
                    lease.release()
            upstream.restore(base_url)
            if content is not None:
                whole = Response(content, status_code=response.status_code)
                whole.raw_headers = relayed_headers(response)
                return whole
            streamed = StreamingResponse(
                relayed(response, lease),
                status_code=response.status_code,
                # Also when the body is never iterated (the client went before it began).
                background=BackgroundTask(close, response, lease),
            )
            streamed.raw_headers = relayed_headers(response)
            return streamed
        if failure is not None:
            # The one retry found no other instance to go to.
            raise BadGatewayError(f"The {upstream.name} service failed to answer.") from failure
        raise UpstreamUnavailableError(f"The {upstream.name} service is unavailable.")
