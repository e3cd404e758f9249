"""No path escapes its prefix: each trick is sent over a raw socket (no client-side
normalisation) to a real gateway in front of recording services, none of which may
see its /internal, /metrics, /openapi.json or /health."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from tests.gateway.services import ANY_METHOD, PROBLEM, SERVICES, gateway_client, gateway_settings
from tests.support import served

INTERNAL_SURFACES = ("/internal", "/metrics", "/openapi.json", "/health")
RESERVATION = f"internal/v1/reservations/{uuid.UUID(int=7)}"

ESCAPES = [
    # The three found by hand (issue 12).
    "/api/v1/auth/../../../metrics",
    "/media/../openapi.json",
    f"/api/v1/products/../../../{RESERVATION}",
    # Percent-encoded dots, in either case and mixed with literal ones.
    f"/api/v1/products/%2e%2e/%2e%2e/%2e%2e/{RESERVATION}",
    f"/api/v1/products/%2E%2E/%2E%2E/%2E%2E/{RESERVATION}",
    "/api/v1/products/.%2e/%2E./.%2E/metrics",
    "/api/v1/orders/./../../../health/ready",
    "/api/v1/orders/%2e/%2e%2e/%2e%2e/%2e%2e/health/live",
    "/media/%2e%2e/openapi.json",
    # Encoded slashes and backslashes that make dot segments once decoded.
    "/api/v1/products/..%2f..%2f..%2fmetrics",
    f"/api/v1/products/..%2F..%2F..%2F{RESERVATION}",
    "/api/v1/products/..%5c..%5c..%5cmetrics",
    "/api/v1/products/..%5C..%5C..%5Copenapi.json",
    "/media/..%2fopenapi.json",
    "/api/v1/products/..\\..\\..\\metrics",
    # Encoded slashes where the gateway routes.
    "/api%2fv1%2fproducts%2f..%2f..%2f..%2fmetrics",
    "/media%2F..%2Fopenapi.json",
    "/api%2Fv1/products",
    # A dot segment at the very end.
    "/api/v1/products/..",
    "/api/v1/auth/.",
]


@dataclass
class Recorder:
    """Every request line that reached any service."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # service, method, raw path
    headers: list[dict[str, str]] = field(default_factory=list)

    def paths(self) -> list[str]:
        with self.lock:
            return [path for _, _, path in self.seen]


def recording_app(name: str, recorder: Recorder) -> FastAPI:
    app = FastAPI(title=name, openapi_url=None)

    @app.api_route("/{path:path}", methods=ANY_METHOD)
    async def record(request: Request) -> Response:
        raw_path = request.scope["raw_path"].decode("latin-1")
        with recorder.lock:
            recorder.seen.append((name, request.method, raw_path))
            recorder.headers.append(dict(request.headers))
        return JSONResponse({"service": name, "raw_path": raw_path})

    return app


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[Recorder, dict[str, str]]]:
    recorder = Recorder()
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(served(recording_app(name, recorder))) for name in SERVICES
        }
        yield recorder, urls


@pytest.fixture
async def edge(recorder: tuple[Recorder, dict[str, str]]) -> AsyncIterator[tuple[Recorder, str]]:
    records, urls = recorder
    # No health checks: every request a service sees came through the proxy.
    settings = gateway_settings(urls, upstream_health_interval=0)
    async with gateway_client(settings) as client:
        with records.lock:
            records.seen.clear()
            records.headers.clear()
        yield records, str(client.base_url)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(base_url: str, head: bytes) -> RawResponse:
    """Sends ``head`` (a request line and headers) byte for byte; the answer."""
    parts = urlsplit(base_url)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as connection:
        connection.sendall(head)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    status_and_headers, _, body = received.partition(b"\r\n\r\n")
    lines = status_and_headers.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(lines[0].split()[1]), headers, body)


def get(base_url: str, target: str, *extra_headers: str) -> RawResponse:
    head = [f"GET {target} HTTP/1.1", "Host: shop.example", "Connection: close", *extra_headers]
    return raw_request(base_url, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))


@pytest.mark.parametrize("path", ESCAPES)
async def test_a_path_that_could_escape_its_prefix_is_refused(
    edge: tuple[Recorder, str], path: str
) -> None:
    records, base_url = edge
    response = get(base_url, path)
    assert response.status == 400, (path, response.status, response.body)
    assert response.headers["content-type"] == PROBLEM
    assert orjson.loads(response.body)["status"] == 400
    assert records.paths() == []  # not passed on at all, not even to a public route


async def test_no_trick_reaches_an_internal_surface(edge: tuple[Recorder, str]) -> None:
    records, base_url = edge
    for path in ESCAPES:
        get(base_url, path)
        # In absolute form too, as a request to a proxy would be.
        get(base_url, "http://shop.example" + path)
    assert [p for p in records.paths() if p.startswith(INTERNAL_SURFACES)] == []
    assert records.paths() == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/products/a%2Fb",  # past the prefix: one segment of the service's path
        "/api/v1/products/...",  # not a dot segment
        "/api/v1/products/..x/.hidden",
        "/api/v1/products/{x}|y^z",  # httpx would re-quote these
        "/api/v1/products/%7Bx%7D",
    ],
)
async def test_what_is_forwarded_is_exactly_the_path_routed(
    edge: tuple[Recorder, str], path: str
) -> None:
    records, base_url = edge
    response = get(base_url, path + "?q=a%2Fb&r=..")
    assert response.status == 200, response.body
    assert records.seen == [("products", "GET", path)]


async def test_internal_and_hop_by_hop_headers_are_stripped(
    edge: tuple[Recorder, str],
) -> None:
    records, base_url = edge
    sent = {
        "x-service-token": "guessed",
        "forwarded": "for=10.0.0.1;proto=https",
        "x-real-ip": "10.0.0.1",
        "x-forwarded-prefix": "/internal",
        "x-original-url": "/internal/v1/reservations",
        "x-http-method-override": "DELETE",
        "proxy-authorization": "Basic Zm9vOmJhcg==",
        "keep-alive": "timeout=5",
        "te": "trailers",
        "x-hop": "1",
        "x-end-to-end": "yes",
    }
    lines = [f"{name}: {value}" for name, value in sent.items()]
    response = get(
        base_url, "/api/v1/orders/7", *lines, "X-Service-Token: twice", "Connection: x-hop"
    )
    assert response.status == 200, response.body
    (received,) = records.headers
    assert received["x-end-to-end"] == "yes"
    for name in sent.keys() - {"x-end-to-end"}:
        assert name not in received, name
    assert received["x-forwarded-for"] == "127.0.0.1"


async def test_the_gateway_routes_no_internal_surface(edge: tuple[Recorder, str]) -> None:
    records, base_url = edge
    async with httpx.AsyncClient(base_url=base_url) as client:
        for path in ("/internal/v1/reservations/x", "/api/v1/internal/x", "/api/v1/metrics"):
            assert (await client.get(path)).status_code == 404
    assert records.paths() == []
