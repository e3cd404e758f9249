"""Who is calling: the client's address, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Scope

Proxies = Sequence[IPv4Network | IPv6Network]


def _trusted(address: str, proxies: Proxies) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def client_ip(request: Request, proxies: Proxies) -> str:
    """The nearest address that is not a trusted proxy.

    X-Forwarded-For is walked from the right (the hop closest to us), so a
    client cannot spoof its address by sending the header itself.
    """
    return scope_client_ip(request.scope, proxies)


def scope_client_ip(scope: Scope, proxies: Proxies) -> str:
    """:func:`client_ip` of an ASGI scope (for middleware, which has no Request)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    # Without trusted proxies the peer is the answer: no need to parse it (per request).
    if not proxies or not _trusted(peer, proxies):
        return peer
    forwarded = Headers(scope=scope).get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


# One IPv6 subscriber usually holds a whole /64 and can pick any address in it:
# limits that count per address count per /64 instead.
IPV6_CLIENT_PREFIX = 64


@lru_cache(maxsize=4096)  # a pure function, asked several times per request
def client_key(address: str) -> str:
    """What per-client limits count on: an IPv4 address itself, an IPv6 address's /64
    (``2001:db8:1:2::/64``); an IPv4-mapped IPv6 address is its IPv4 address. Anything
    that is no address is counted as it is."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed)
