"""What per-client limits count on: the client's address (believing X-Forwarded-For only
from trusted proxies), an IPv4 address, an IPv6 client's /64."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest
from starlette.requests import Request

from shop.kit.clients import Proxies, client_ip, client_key, scope_client_ip


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::1", "::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client on a dual-stack socket
        ("unknown", "unknown"),
    ],
)
def test_client_key(address: str, key: str) -> None:
    assert client_key(address) == key


PROXY = [ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "address"),
    [
        ("203.0.113.7", None, [], "203.0.113.7"),
        # Not from a trusted proxy (none trusted, or not this peer): the header is ignored.
        ("203.0.113.7", b"198.51.100.1", [], "203.0.113.7"),
        ("203.0.113.7", b"198.51.100.1", PROXY, "203.0.113.7"),
        # From a trusted proxy: the nearest hop that is not one.
        ("10.0.0.2", b"198.51.100.1, 10.0.0.9", PROXY, "198.51.100.1"),
        ("10.0.0.2", b"192.0.2.5, 198.51.100.1", PROXY, "198.51.100.1"),
        ("10.0.0.2", None, PROXY, "10.0.0.2"),
        (None, None, [], "unknown"),
    ],
)
def test_the_client_address_is_the_same_from_a_scope_or_a_request(
    peer: str | None, forwarded: bytes | None, proxies: Proxies, address: str
) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "headers": [(b"x-forwarded-for", forwarded)] if forwarded else [],
        "client": (peer, 40000) if peer else None,
    }
    assert scope_client_ip(scope, proxies) == address
    assert client_ip(Request(scope), proxies) == address
