"""Small answers are read whole and relayed in one piece; large and chunked ones stream
through as the service sends them. Either way the client gets the service's answer."""

from __future__ import annotations

import asyncio
import os
import socketserver
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import Response, StreamingResponse

from shop.gateway.proxy import BUFFERED_MAX_BYTES
from tests.gateway.services import assert_problem, gateway_client, gateway_settings, health_routes
from tests.support import read_request_head, served, serving

FIRST = b"first chunk;"


def held_app(release: threading.Event) -> FastAPI:
    """Sends the first chunk of a big answer at once and the rest once released."""
    app = FastAPI()
    health_routes(app)
    rest = os.urandom(BUFFERED_MAX_BYTES)

    async def body() -> AsyncIterator[bytes]:
        yield FIRST
        while not await asyncio.to_thread(release.wait, 0.05):
            pass
        yield rest

    @app.get("/api/v1/products/sized")
    async def sized() -> Response:
        length = str(len(FIRST) + len(rest))
        return StreamingResponse(body(), headers={"content-length": length})

    @app.get("/api/v1/products/chunked")
    async def chunked() -> Response:
        return StreamingResponse(body())

    @app.get("/api/v1/products/small")
    async def small() -> Response:
        response = Response(b'{"id": 7}', 201, media_type="application/json")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        response.headers["etag"] = '"v1"'
        response.headers["connection"] = "x-hop"
        response.headers["x-hop"] = "1"
        return response

    return app


@pytest.fixture(scope="module")
def release() -> threading.Event:
    return threading.Event()


@pytest.fixture(scope="module")
def held(release: threading.Event) -> Iterator[str]:
    with served(held_app(release)) as url:
        yield url
    release.set()


async def test_a_small_answer_keeps_its_status_headers_and_body(
    services: dict[str, str], held: str
) -> None:
    async with gateway_client(gateway_settings(services, products_urls=[held])) as gateway:
        response = await gateway.get("/api/v1/products/small")
    assert response.status_code == 201
    assert response.content == b'{"id": 7}'
    assert response.headers["content-length"] == "9"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["etag"] == '"v1"'
    assert [c.split(";")[0] for c in response.headers.get_list("set-cookie")] == ["a=1", "b=2"]
    assert "x-hop" not in response.headers
    assert "transfer-encoding" not in response.headers
    # The gateway's own headers are added to it as to any answer.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["ratelimit-limit"]


@pytest.mark.parametrize("path", ["sized", "chunked"])
async def test_a_large_or_chunked_answer_streams_through(
    services: dict[str, str], held: str, release: threading.Event, path: str
) -> None:
    release.clear()
    async with (
        gateway_client(gateway_settings(services, products_urls=[held])) as gateway,
        gateway.stream("GET", f"/api/v1/products/{path}") as response,
    ):
        assert response.status_code == 200
        chunks = response.aiter_raw()
        # The first chunk arrives while the service still holds back the rest: the
        # gateway did not wait for the whole answer.
        received = await asyncio.wait_for(anext(chunks), timeout=5)
        assert FIRST.startswith(received)
        release.set()
        received += b"".join([chunk async for chunk in chunks])
    assert received.startswith(FIRST)
    assert len(received) == len(FIRST) + BUFFERED_MAX_BYTES
    if path == "chunked":
        assert response.headers["transfer-encoding"] == "chunked"
    else:
        assert response.headers["content-length"] == str(len(received))


class _CutShort(socketserver.BaseRequestHandler):
    """Promises 100 bytes, sends 5 and hangs up."""

    def handle(self) -> None:
        if read_request_head(self.request) is None:
            return
        self.request.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort")


@contextmanager
def cut_short_server() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _CutShort)
    server.daemon_threads = True
    with serving(server) as url:
        yield url


async def test_a_small_answer_cut_short_is_a_502_problem(services: dict[str, str]) -> None:
    with cut_short_server() as url:
        settings = gateway_settings(services, products_urls=[url], upstream_health_interval=0)
        async with gateway_client(settings) as gateway:
            response = await gateway.post("/api/v1/products", json={})
    # Nothing had been relayed yet, so the client gets a proper answer, not a broken one.
    assert_problem(response, 502)


async def test_a_small_answer_cut_short_is_retried_when_idempotent(
    services: dict[str, str],
) -> None:
    with cut_short_server() as url:
        settings = gateway_settings(
            services,
            products_urls=[url, services["products"]],
            upstream_health_interval=0,
            upstream_eject_after_errors=100,
        )
        async with gateway_client(settings) as gateway:
            responses = [await gateway.get("/api/v1/products/7") for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    assert all(r.json()["service"] == "products" for r in responses)


async def test_cookies_a_service_sets_are_not_kept_for_later_requests(
    gateway: httpx.AsyncClient,
) -> None:
    first = await gateway.get("/api/v1/auth/session")
    assert len(first.headers.get_list("set-cookie")) == 2
    # Another client: nothing of the first one's session may reach the service for it.
    async with httpx.AsyncClient(base_url=gateway.base_url) as other:
        summary = (await other.get("/api/v1/auth/me")).json()
    assert [name for name, _ in summary["headers"] if name == "cookie"] == []


async def test_an_unsupported_method_on_a_proxied_path_is_a_405_problem(
    gateway: httpx.AsyncClient,
) -> None:
    assert_problem(await gateway.request("TRACE", "/api/v1/products/7"), 405)
