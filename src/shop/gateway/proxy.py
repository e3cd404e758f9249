"""Reverse proxy to the services: streams bodies both ways over pooled connections.

An instance that cannot be reached is skipped for the next one (the request
has not been sent yet, so this is safe for any method) and ejected for a
cool-down (see :class:`~shop.gateway.upstreams.Upstream`); when none can be
reached the answer is 503, and an instance too slow to answer gives 504.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import structlog
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse

from shop.gateway.upstreams import Upstream
from shop.kit.clients import Proxies, client_ip
from shop.kit.errors import ShopError, UpstreamTimeoutError, UpstreamUnavailableError

log = structlog.get_logger("shop.gateway.proxy")

# Connection-level headers that must not be forwarded (RFC 9110, section 7.6.1),
# plus those the gateway sets itself.
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
}
NOT_FORWARDED_RESPONSE = HOP_BY_HOP | {"date", "server", "x-request-id"}


class BadGatewayError(ShopError):
    status = 502
    title = "Bad gateway"
    type_slug = "bad-gateway"


def connection_options(values: Iterable[str]) -> set[str]:
    """The headers a Connection header names: hop-by-hop too (RFC 9110, section 7.6.1)."""
    return {option.strip().lower() for value in values for option in value.split(",")}


def forwarded_headers(request: Request, trusted_proxies: Proxies = ()) -> list[tuple[str, str]]:
    dropped = NOT_FORWARDED_REQUEST | connection_options(request.headers.getlist("connection"))
    headers = [(name, value) for name, value in request.headers.items() if name not in dropped]
    # One address: the client as far as trusted proxies vouch for it (by default, the peer).
    headers.append(("x-forwarded-for", client_ip(request, trusted_proxies)))
    headers.append(("x-forwarded-proto", request.url.scheme))
    if host := request.headers.get("host"):
        headers.append(("x-forwarded-host", host))
    headers.append(("x-request-id", request.state.request_id))
    return headers


class Proxy:
    def __init__(self, client: httpx.AsyncClient, trusted_proxies: Proxies = ()) -> None:
        self.client = client
        self.trusted_proxies = trusted_proxies

    async def forward(self, request: Request, upstream: Upstream) -> StreamingResponse:
        # The path as the client encoded it: decoded, "a%2Fb" would become two segments.
        raw_path: bytes | None = request.scope.get("raw_path")
        path_and_query = raw_path.decode("latin-1") if raw_path else request.url.path
        if request.url.query:
            path_and_query += "?" + request.url.query
        headers = forwarded_headers(request, self.trusted_proxies)
        # Without a body from the client, streaming would still send the service a
        # (chunked, empty) one, even on a GET.
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        body = request.stream() if has_body else None
        for base_url in upstream.instances():
            outgoing = self.client.build_request(
                request.method, base_url + path_and_query, headers=headers, content=body
            )
            try:
                response = await self.client.send(outgoing, stream=True)
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
            except httpx.TransportError as exc:
                log.warning(
                    "upstream failed", upstream=upstream.name, url=base_url, error=repr(exc)
                )
                raise BadGatewayError(f"The {upstream.name} service failed to answer.") from exc
            upstream.restore(base_url)
            streamed = StreamingResponse(
                response.aiter_raw(),
                status_code=response.status_code,
                background=BackgroundTask(response.aclose),
            )
            # Raw pairs, so repeated headers (Set-Cookie) survive.
            dropped = NOT_FORWARDED_RESPONSE | connection_options(
                response.headers.get_list("connection")
            )
            streamed.raw_headers = [
                (name, value)
                for name, value in response.headers.raw
                if name.decode("latin-1").lower() not in dropped
            ]
            return streamed
        raise UpstreamUnavailableError(f"The {upstream.name} service is unavailable.")
