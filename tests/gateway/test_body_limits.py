"""Body limits per route: 1 MiB of JSON, 10 MiB images in their multipart envelope."""

from __future__ import annotations

import asyncio
import os

import httpx
from fastapi import FastAPI
from starlette.types import Message, Scope

from shop.gateway.app import create_app
from tests.gateway.services import assert_problem, gateway_settings

MIB = 1024 * 1024
UPLOAD = "/api/v1/products/42/images"
CHUNK = 64 * 1024


async def pulled_before_answer(app: FastAPI, path: str, total: int) -> tuple[int, int]:
    """Streams a ``total``-byte chunked POST into the gateway, in process; the status it
    answered and how many bytes it had taken by then."""
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        if pulled >= total:
            await asyncio.sleep(3600)  # a client still sending: the gateway must not wait
        pulled += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": pulled < total}

    answered: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app(scope, receive, send), 30)
    return answered[0], pulled


async def test_json_routes_take_up_to_1_mib(gateway: httpx.AsyncClient) -> None:
    fits = await gateway.post("/api/v1/orders", content=b" " * MIB)
    assert fits.status_code == 200
    assert fits.json()["body_length"] == MIB

    over = await gateway.post("/api/v1/orders", content=b" " * (MIB + 1))
    body = assert_problem(over, 413)
    assert body["type"].endswith("/payload-too-large")
    # Not the upload route: a PUT of an image's record, or a GET with a body, is JSON-sized.
    for method, path in (("PUT", UPLOAD + "/1"), ("PATCH", UPLOAD), ("POST", "/api/v1/auth/login")):
        response = await gateway.request(method, path, content=b" " * (MIB + 1))
        assert_problem(response, 413)


async def test_a_json_body_streamed_past_the_limit_is_413_before_the_end(
    services: dict[str, str],
) -> None:
    app = create_app(gateway_settings(services))
    status, pulled = await pulled_before_answer(app, "/api/v1/orders", 50 * MIB)
    assert status == 413
    assert pulled <= MIB + CHUNK


async def test_image_uploads_take_10_mib_and_their_envelope(gateway: httpx.AsyncClient) -> None:
    image = os.urandom(10 * MIB)
    # The API's upload, and the dashboard's form that passes a picture on to it.
    for path in (UPLOAD, "/admin/products/42/images"):
        response = await gateway.post(
            path, files={"file": ("big.jpg", image, "image/jpeg")}, data={"alt": "x" * 1000}
        )
        assert response.status_code == 200, response.text
        assert response.json()["body_length"] > 10 * MIB
    # The dashboard's other forms are small.
    over = await gateway.post("/admin/products/42", content=b" " * (MIB + 1))
    assert_problem(over, 413)


async def test_an_upload_over_its_limit_is_413(
    gateway: httpx.AsyncClient, services: dict[str, str]
) -> None:
    declared = await gateway.post(UPLOAD, content=b"x" * (11 * MIB + 1))
    assert_problem(declared, 413)

    app = create_app(gateway_settings(services))
    status, pulled = await pulled_before_answer(app, UPLOAD, 100 * MIB)
    assert status == 413
    assert pulled <= 11 * MIB + CHUNK
