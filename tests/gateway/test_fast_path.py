"""The fast path (shop.gateway.fast_path) answers exactly as the framework's stack would.

Each request is sent to two gateways built from the same settings, one of them
without the fast path, in front of the same echo services: status, headers and
body must be the same, but for what differs from one answer to the next anyway
(the date, the rate limit's remaining count and reset)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Scope

from shop.gateway import app as gateway_app
from shop.gateway import fast_path
from shop.gateway.app import create_app
from shop.gateway.config import GatewaySettings
from shop.gateway.fast_path import FastPath
from shop.gateway.forwarding import pass_on
from shop.gateway.upstreams import Upstream
from tests.gateway.services import gateway_settings, slow_app
from tests.support import served

SHOP = "https://shop.example"
EVIL = "https://evil.example"
PEER = "10.0.0.7"  # behind no proxy, but in the trusted range for the HTTPS case
REQUEST_ID = "fast-path-equivalence"

# Values that differ between two answers whichever way they were made.
VOLATILE = {b"date", b"ratelimit-remaining", b"ratelimit-reset"}

CASES: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/api/v1/products/p-1?q=red&page=2", {}),
    ("HEAD", "/api/v1/products", {}),
    ("DELETE", "/api/v1/carts/c-1", {}),
    ("GET", "/api/v1/products", {"origin": SHOP}),
    ("GET", "/api/v1/products", {"origin": EVIL}),
    ("GET", "/api/v1/products", {"x-respond-status": "503"}),
    ("GET", "/api/v1/products", {"x-forwarded-proto": "https"}),
    ("GET", "/api/v1/products", {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}),
    # Set-Cookie twice, hop-by-hop headers and the service's own request ID dropped.
    ("GET", "/api/v1/auth/session", {}),
    ("GET", "/admin/products", {}),
    ("GET", "/api/v1/products/%2e%2e/orders", {}),  # ambiguous: 400
    ("GET", "/api/v1/orders/o-1", {"authorization": "Bearer not-a-token"}),  # 401
    ("GET", "/api/v1/auth/login", {"authorization": "Bearer stale"}),  # not judged
    ("GET", "/api/v1/productsX", {}),  # no such route: 404
    ("TRACE", "/api/v1/products", {}),  # 405
]


def without_fast_path(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not FastPath]
    return app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(PEER, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def comparable(response: httpx.Response) -> dict[str, Any]:
    headers = sorted(
        (name, b"" if name in VOLATILE else value) for name, value in response.headers.raw
    )
    return {"status": response.status_code, "headers": headers, "body": response.content}


@pytest.fixture(scope="module")
def settings(services: dict[str, str]) -> GatewaySettings:
    return gateway_settings(
        services, cors_origins=SHOP, trusted_proxies="10.0.0.0/8", rate_limit_default="1000/minute"
    )


def test_the_gateway_has_the_fast_path_unless_tracing(
    settings: GatewaySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert FastPath in [m.cls for m in create_app(settings).user_middleware]
    monkeypatch.setattr(gateway_app, "tracing_on", lambda: True)
    assert FastPath not in [m.cls for m in create_app(settings).user_middleware]


async def test_requests_without_a_body_go_the_fast_way_and_no_other(
    settings: GatewaySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    passed_on: list[tuple[str, str]] = []

    async def spy(scope: Scope, upstream: Upstream, body: AsyncIterator[bytes] | None) -> Response:
        passed_on.append((scope["method"], scope["path"]))
        return await pass_on(scope, upstream, body)

    monkeypatch.setattr(fast_path, "pass_on", spy)
    async with client_of(create_app(settings)) as client:
        for method in ("GET", "HEAD", "DELETE"):
            assert (await client.request(method, "/api/v1/products/p-1")).status_code == 200
        assert (await client.post("/api/v1/orders", json={"note": "a body"})).status_code == 200
        assert (await client.options("/api/v1/products")).status_code == 200
        assert (await client.get("/health/live")).status_code == 200
    assert passed_on == [(method, "/api/v1/products/p-1") for method in ("GET", "HEAD", "DELETE")]


@pytest.mark.parametrize(("method", "path", "headers"), CASES)
async def test_an_answer_is_the_same_either_way(
    settings: GatewaySettings, method: str, path: str, headers: dict[str, str]
) -> None:
    sent = {"x-request-id": REQUEST_ID, **headers}
    answers = []
    for app in (create_app(settings), without_fast_path(create_app(settings))):
        async with client_of(app) as client:
            answers.append(await client.request(method, path, headers=sent))
    fast, framework = (comparable(answer) for answer in answers)
    only_fast = [pair for pair in fast["headers"] if pair not in framework["headers"]]
    only_framework = [pair for pair in framework["headers"] if pair not in fast["headers"]]
    assert (only_fast, only_framework) == ([], [])
    assert fast == framework


async def test_reads_and_writes_share_a_clients_requests_in_progress(
    services: dict[str, str],
) -> None:
    """A read held by a slow service (the fast path) counts against the client's cap
    for a write (the framework's way), and the slot is given back after."""
    with served(slow_app(3.0)) as slow:
        settings = gateway_settings(services, products_urls=[slow], max_requests_per_client=1)
        app = create_app(settings)
        slots = next(m.kwargs["slots"] for m in app.user_middleware if m.cls is FastPath)
        async with client_of(app) as client:
            read = asyncio.create_task(client.get("/api/v1/products/p-1"))
            while not slots.in_progress:  # noqa: ASYNC110 - until the read is in progress
                await asyncio.sleep(0.01)
            refused = await client.post("/api/v1/orders", json={"note": "while reading"})
            assert (await read).status_code == 200
            after = await client.post("/api/v1/orders", json={"note": "after the read"})
    assert refused.status_code == 429
    assert refused.json()["type"].endswith("too-many-requests-in-progress")
    assert after.status_code == 200


async def test_the_fast_path_serves_every_service(services: dict[str, str]) -> None:
    """Every proxied prefix reaches its own service."""
    async with client_of(create_app(gateway_settings(services))) as client:
        for path, service in {
            "/api/v1/auth/me": "auth",
            "/api/v1/products": "products",
            "/api/v1/orders/o-1": "orders",
            "/admin": "admin",
        }.items():
            response = await client.get(path)
            assert response.json()["service"] == service, path
