"""CORS for the configured origins only, and security headers on every response."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from shop.gateway.config import GatewaySettings
from shop.gateway.security import ADMIN_CSP, API_CSP, DOCS_CSP
from tests.gateway.services import (
    assert_problem,
    gateway_client,
    gateway_from,
    gateway_settings,
)

SHOP = "https://shop.example"
ADMIN = "https://admin.shop.example"
EVIL = "https://evil.example"


@pytest.fixture
async def edge(services: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings(services, cors_origins=f"{SHOP}, {ADMIN}")
    async with gateway_client(settings) as client:
        yield client


def preflight(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }


def assert_security_headers(response: httpx.Response, csp: str = API_CSP) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == csp
    assert "strict-transport-security" not in response.headers  # plain HTTP


async def test_a_listed_origins_preflight_is_answered_and_cached(
    edge: httpx.AsyncClient,
) -> None:
    response = await edge.options("/api/v1/orders", headers=preflight(ADMIN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ADMIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-max-age"] == "600"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert "origin" in response.headers["vary"].lower()
    assert_security_headers(response)


async def test_a_listed_origins_request_gets_cors_headers(edge: httpx.AsyncClient) -> None:
    response = await edge.get("/api/v1/products", headers={"origin": SHOP})
    assert response.status_code == 200
    assert response.json()["service"] == "products"
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = response.headers["access-control-expose-headers"].lower()
    for name in ("ratelimit-remaining", "retry-after", "x-request-id", "etag", "location"):
        assert name in exposed


async def test_another_origin_gets_no_cors_headers(edge: httpx.AsyncClient) -> None:
    refused = await edge.options("/api/v1/orders", headers=preflight(EVIL))
    simple = await edge.get("/api/v1/products", headers={"origin": EVIL})
    # Only exactly the listed origins: not a sub-domain, not another scheme.
    lookalike = await edge.get("/api/v1/products", headers={"origin": "http://shop.example"})
    assert_problem(refused, 403)
    assert simple.status_code == 200  # the browser, not the gateway, withholds the answer
    for response in (refused, simple, lookalike):
        cors = [name for name in response.headers if name.startswith("access-control-")]
        assert cors == [], (response.request.method, response.request.headers, cors)
    assert_security_headers(refused)
    assert "origin" in simple.headers["vary"].lower()  # caches keep the answers apart


async def test_without_cors_origins_no_origin_is_allowed(services: dict[str, str]) -> None:
    async with gateway_client(gateway_settings(services)) as gateway:
        response = await gateway.get("/api/v1/products", headers={"origin": SHOP})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "origins",
    ["*", "https://*.shop.example", "https://shop.example/", "shop.example", "ftp://shop.example"],
)
def test_cors_origins_must_be_exact(origins: str) -> None:
    with pytest.raises(ValidationError, match="not an exact origin"):
        GatewaySettings(_env_file=None, cors_origins=origins)


async def test_security_headers_on_proxied_responses_and_problems(
    edge: httpx.AsyncClient,
) -> None:
    proxied = await edge.get("/api/v1/auth/session")
    assert proxied.status_code == 201
    assert_security_headers(proxied)

    unknown = await edge.get("/nowhere")
    bad_token = await edge.get("/api/v1/orders", headers={"authorization": "Bearer nope"})
    too_large = await edge.post("/api/v1/orders", content=b"x" * (1024 * 1024 + 1))
    for response, status in ((unknown, 404), (bad_token, 401), (too_large, 413)):
        assert_problem(response, status)
        assert_security_headers(response)

    for path in ("/health/live", "/metrics"):
        assert_security_headers(await edge.get(path))


async def test_the_docs_page_may_load_swagger_ui(edge: httpx.AsyncClient) -> None:
    response = await edge.get("/docs")
    assert response.status_code == 200
    assert_security_headers(response, DOCS_CSP)
    assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist" in response.text
    assert "script-src https://cdn.jsdelivr.net" in DOCS_CSP


async def test_the_dashboard_may_load_its_stylesheet_and_post_its_forms(
    edge: httpx.AsyncClient,
) -> None:
    for path in ("/admin", "/admin/products"):
        response = await edge.get(path)
        assert response.status_code == 200
        assert_security_headers(response, ADMIN_CSP)
    assert "style-src 'self'" in ADMIN_CSP
    assert "form-action 'self'" in ADMIN_CSP
    assert "script-src" not in ADMIN_CSP  # default-src 'none': no script at all
    assert_security_headers(await edge.get("/administrator"), API_CSP)


async def test_hsts_only_when_a_trusted_proxy_says_the_request_came_over_https(
    services: dict[str, str],
) -> None:
    settings = gateway_settings(services, trusted_proxies="10.0.0.0/8")
    https = {"x-forwarded-proto": "https"}
    async with gateway_from(settings, "10.0.0.1") as behind_tls:
        secure = await behind_tls.get("/api/v1/products", headers=https)
        plain = await behind_tls.get("/api/v1/products", headers={"x-forwarded-proto": "http"})
    async with gateway_from(settings, "198.51.100.7") as direct:
        claimed = await direct.get("/api/v1/products", headers=https)

    assert secure.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert "strict-transport-security" not in plain.headers
    # A client's own claim counts for nothing.
    assert "strict-transport-security" not in claimed.headers
