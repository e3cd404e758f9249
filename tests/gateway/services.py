"""Stand-in services for the gateway to route to: plain FastAPI apps that report
what reached them, served for real by the tests (``tests.support.served``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from shop.cli.processes import free_port
from shop.gateway.app import create_app
from shop.gateway.config import GatewaySettings
from tests.support import served

SERVICES = ("auth", "products", "orders", "admin")
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PROBLEM = "application/problem+json"


def health_routes(app: FastAPI, *, ready: bool = True) -> None:
    """What the gateway's readiness check asks each instance."""

    @app.get("/health/ready")
    async def health_ready() -> Response:
        return JSONResponse({"status": "ok" if ready else "starting"}, 200 if ready else 503)


def echo_app(name: str, *, ready: bool = True) -> FastAPI:
    """Answers any request with a summary of what it received.

    Request headers steer the answer: ``x-respond-status`` sets the status and
    ``x-echo-body: 1`` sends the body back instead of summarizing it.
    """
    app = FastAPI(title=name)
    health_routes(app, ready=ready)

    @app.get("/api/v1/auth/session")
    async def session() -> Response:
        response = JSONResponse({"service": name}, status_code=201)
        response.set_cookie("session", "s3cr3t", httponly=True)
        response.set_cookie("theme", "dark")
        # Hop-by-hop: for the gateway's connection to this service only.
        response.headers["keep-alive"] = "timeout=99"
        response.headers["proxy-authenticate"] = "Basic"
        response.headers["connection"] = "x-upstream-hop"
        response.headers["x-upstream-hop"] = "1"
        response.headers["x-end-to-end"] = "yes"
        response.headers["x-request-id"] = "the-upstream-own-id"
        return response

    @app.api_route("/{path:path}", methods=ANY_METHOD)
    async def echo(request: Request) -> Response:
        status = int(request.headers.get("x-respond-status", "200"))
        if status == 204:
            return Response(status_code=status)
        if request.headers.get("x-echo-body") == "1":
            return Response(await request.body(), status, media_type="application/x-echo")
        digest = hashlib.sha256()
        length = 0
        try:
            async for chunk in request.stream():
                digest.update(chunk)
                length += len(chunk)
        except ClientDisconnect:  # the gateway gave up on a body over its limit
            return Response(status_code=499)
        summary: dict[str, Any] = {
            "service": name,
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [[key, value] for key, value in request.headers.items()],
            "body_length": length,
            "body_sha256": digest.hexdigest(),
        }
        return JSONResponse(summary, status, headers={"x-request-id": "the-upstream-own-id"})

    return app


def slow_app(seconds: float) -> FastAPI:
    """Takes ``seconds`` to answer, unless the caller hangs up first (so that
    stopping the server does not wait for the whole sleep)."""
    app = FastAPI()
    health_routes(app)

    @app.api_route("/{path:path}", methods=ANY_METHOD)
    async def slow(request: Request) -> dict[str, str]:
        for _ in range(int(seconds / 0.05)):
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.05)
        return {"status": "finally"}

    return app


def dead_url() -> str:
    """A URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def header_values(summary: dict[str, Any], name: str) -> list[str]:
    """Every value of one request header, as the echo service received it."""
    return [value for key, value in summary["headers"] if key == name]


@contextmanager
def echo_services() -> Iterator[dict[str, str]]:
    """One echo service per upstream name, served; their base URLs by name."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(served(echo_app(name))) for name in SERVICES}


def gateway_settings(services: dict[str, str], **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "auth_urls": [services["auth"]],
        "products_urls": [services["products"]],
        "orders_urls": [services["orders"]],
        "admin_urls": [services["admin"]],
        "log_format": "json",
        "upstream_read_timeout": 10.0,
        # Sessions of bearer tokens are checked in Redis.
        "redis_url": os.environ["TEST_REDIS_URL"],
    }
    values.update(overrides)
    return GatewaySettings(**values)


@asynccontextmanager
async def gateway_client(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway behind a real server, and a client for it."""
    with served(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=15.0) as client:
            yield client


@asynccontextmanager
async def gateway_from(
    settings: GatewaySettings, peer: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in process, its client connecting from ``peer``: the gateway sees
    exactly that address and the headers sent (a real server would first apply its
    own idea of X-Forwarded-For)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body
