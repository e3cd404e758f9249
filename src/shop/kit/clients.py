"""Who is calling: the client's address, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.requests import Request

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
    peer = request.client.host if request.client else "unknown"
    if not _trusted(peer, proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer
