"""Callers drop idle pooled connections before the services close them.

If a service closed an idle kept-alive connection at the moment a caller sent a
request on it, the request would fail in transit; a POST is not retried, so the
gateway would answer 502 (seen once in a cancel-versus-ship race).
"""

from __future__ import annotations

from shop.cli.serve import SERVICE_KEEP_ALIVE_SECONDS, server_options, uvicorn_options
from shop.gateway.app import create_app as create_gateway_app
from shop.gateway.config import GatewaySettings
from shop.gateway.server import PUBLIC_KEEP_ALIVE_SECONDS
from shop.kit.http import CLIENT_KEEPALIVE_SECONDS, DEFAULT_LIMITS


def test_services_keep_idle_connections_well_past_their_callers_pools() -> None:
    assert DEFAULT_LIMITS.keepalive_expiry == CLIENT_KEEPALIVE_SECONDS
    # Margin for a loaded caller that took a connection just before it expired.
    assert SERVICE_KEEP_ALIVE_SECONDS >= CLIENT_KEEPALIVE_SECONDS * 3

    # What every service runs with, unless its app asks otherwise (the gateway does).
    common = uvicorn_options(GatewaySettings(redis_url="redis://127.0.0.1:1/0"))
    assert common["timeout_keep_alive"] == SERVICE_KEEP_ALIVE_SECONDS


def test_the_gateway_keeps_public_idle_connections_short() -> None:
    gateway = create_gateway_app(GatewaySettings(redis_url="redis://127.0.0.1:1/0"))
    assert server_options(gateway)["timeout_keep_alive"] == PUBLIC_KEEP_ALIVE_SECONDS
