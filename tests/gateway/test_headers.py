"""Headers on the way in and out: forwarding, hop-by-hop, cookies, request IDs."""

import re

import httpx

from shop.gateway.app import create_app
from tests.gateway.services import gateway_from, gateway_settings, header_values
from tests.support import app_client


async def test_repeated_set_cookie_headers_survive(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/auth/session")
    assert response.status_code == 201
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert cookies[0].startswith("session=s3cr3t;")
    assert "HttpOnly" in cookies[0]
    assert cookies[1].startswith("theme=dark;")
    assert response.cookies["theme"] == "dark"


async def test_hop_by_hop_response_headers_are_dropped(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/auth/session")
    assert response.headers["x-end-to-end"] == "yes"
    assert "keep-alive" not in response.headers
    assert "proxy-authenticate" not in response.headers
    # Named in the service's Connection header, so meant for the gateway alone.
    assert "x-upstream-hop" not in response.headers
    assert "x-upstream-hop" not in response.headers.get("connection", "")


async def test_hop_by_hop_request_headers_are_dropped(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(
        "/api/v1/products",
        headers={
            "connection": "keep-alive, x-client-hop",
            "x-client-hop": "for the gateway only",
            "keep-alive": "timeout=5",
            "te": "trailers",
            "trailer": "x-checksum",
            "proxy-authorization": "Basic c2VjcmV0",
            "x-end-to-end": "yes",
        },
    )
    summary = response.json()
    received = {name for name, _ in summary["headers"]}
    assert header_values(summary, "x-end-to-end") == ["yes"]
    for name in ("x-client-hop", "keep-alive", "te", "trailer", "proxy-authorization"):
        assert name not in received, name
    # The gateway's own connection to the service may be keep-alive, nothing more.
    assert all("x-client-hop" not in value for value in header_values(summary, "connection"))


async def test_forwarded_headers_describe_the_client(gateway: httpx.AsyncClient) -> None:
    gateway_host = gateway.base_url.netloc.decode()
    summary = (await gateway.get("/api/v1/orders")).json()
    assert header_values(summary, "x-forwarded-for") == ["127.0.0.1"]
    assert header_values(summary, "x-forwarded-proto") == ["http"]
    assert header_values(summary, "x-forwarded-host") == [gateway_host]
    # The service is addressed by its own host name, not the gateway's.
    assert header_values(summary, "host") != [gateway_host]


async def test_forwarded_headers_from_the_client_are_replaced(services: dict[str, str]) -> None:
    # In process: uvicorn in tests.support.served believes X-Forwarded-* from loopback
    # peers (its default), which `shop serve` turns off; this is the gateway's own doing.
    spoofed = {
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "evil.example",
    }
    async with app_client(create_app(gateway_settings(services))) as gateway:
        summary = (await gateway.get("/api/v1/orders", headers=spoofed)).json()
    assert header_values(summary, "x-forwarded-for") == ["127.0.0.1"]
    assert header_values(summary, "x-forwarded-proto") == ["http"]
    assert header_values(summary, "x-forwarded-host") == ["testserver"]


async def test_https_reaches_the_service_only_as_a_trusted_proxy_says_it(
    services: dict[str, str],
) -> None:
    https = {"x-forwarded-proto": "https"}
    trusting = gateway_settings(services, trusted_proxies="10.0.0.0/8")
    async with gateway_from(trusting, peer="10.1.2.3") as gateway:
        summary = (await gateway.get("/api/v1/orders", headers=https)).json()
    assert header_values(summary, "x-forwarded-proto") == ["https"]
    async with gateway_from(trusting, peer="192.0.2.7") as gateway:
        summary = (await gateway.get("/api/v1/orders", headers=https)).json()
    assert header_values(summary, "x-forwarded-proto") == ["http"]


async def test_client_request_id_reaches_service_and_comes_back(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get("/api/v1/products/1", headers={"x-request-id": "trace-abc.42"})
    # Exactly once on each side: the service's own ID does not leak through.
    assert header_values(response.json(), "x-request-id") == ["trace-abc.42"]
    assert response.headers.get_list("x-request-id") == ["trace-abc.42"]


async def test_generated_request_id_is_shared_with_the_service(
    gateway: httpx.AsyncClient,
) -> None:
    first = await gateway.get("/api/v1/products/1")
    second = await gateway.get("/api/v1/products/1")
    generated = first.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert header_values(first.json(), "x-request-id") == [generated]
    assert second.headers["x-request-id"] != generated


async def test_unusable_request_id_is_replaced_everywhere(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(
        "/api/v1/products/1", headers={"x-request-id": "no spaces <allowed>"}
    )
    generated = response.headers["x-request-id"]
    assert generated != "no spaces <allowed>"
    # The service sees the ID the gateway logs under, and only that one.
    assert header_values(response.json(), "x-request-id") == [generated]
