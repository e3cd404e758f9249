"""Upstream instances that misbehave on cue, for the balancing and resilience tests."""

from __future__ import annotations

import asyncio
import socketserver
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI, Request
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import JSONResponse, Response

from shop.gateway.app import create_app
from shop.gateway.config import GatewaySettings
from shop.gateway.upstreams import Upstream
from tests.gateway.services import ANY_METHOD
from tests.support import read_request_head, served, serving


@dataclass
class Switches:
    """Flipped by a test, read by a :func:`switchable_app` in the server's thread."""

    ready: threading.Event = field(default_factory=threading.Event)
    # While clear, requests to a path ending in "/slow" wait.
    go: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.ready.set()


def switchable_app(name: str, switches: Switches) -> FastAPI:
    """Says who it is; ready or not, and slow or not, as ``switches`` say."""
    app = FastAPI(title=name)

    @app.get("/health/ready")
    async def health_ready() -> Response:
        ready = switches.ready.is_set()
        return JSONResponse({"status": "ok" if ready else "failing"}, 200 if ready else 503)

    @app.api_route("/{path:path}", methods=ANY_METHOD)
    async def answer(request: Request, path: str) -> Response:
        if path.endswith("/slow"):
            while not await asyncio.to_thread(switches.go.wait, 0.02):
                if await request.is_disconnected():
                    break
        return JSONResponse({"service": name, "method": request.method})

    return app


class _HangUp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        received = read_request_head(self.request)
        if received is None:
            return
        server: HangUpServer = self.server  # type: ignore[assignment]
        with server.lock:
            server.requests.append(received.split(b"\r\n", 1)[0].decode())
        # Closing without an answer: the process died while handling the request.


class HangUpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HangUp)
        self.lock = threading.Lock()
        self.requests: list[str] = []  # their request lines, "GET /path HTTP/1.1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def hang_up_server() -> Iterator[HangUpServer]:
    """An instance that accepts connections, reads each request and hangs up."""
    server = HangUpServer()
    with serving(server):
        yield server


@asynccontextmanager
async def running_gateway(
    settings: GatewaySettings,
) -> AsyncIterator[tuple[dict[str, Upstream], httpx.AsyncClient]]:
    """The gateway behind a real server; its upstreams (to look into) and a client."""
    app = create_app(settings)
    with served(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=15.0) as client:
            yield app.state.upstreams, client


async def metric(gateway: httpx.AsyncClient, name: str, **labels: str) -> float | None:
    """One sample of the gateway's /metrics, None if absent."""
    text = (await gateway.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return sample.value
    return None


async def eventually(condition: Callable[[], bool | Awaitable[bool]], within: float = 5.0) -> None:
    """Waits until ``condition()`` (sync or async) is true."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
