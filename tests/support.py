"""Helpers the tests share: running apps for real, database URLs."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from shop.cli.processes import free_port


@dataclass(frozen=True)
class Databases:
    admin_url: str
    urls: dict[str, str]  # service name -> URL of its migrated test database


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@asynccontextmanager
async def app_client(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, called in-process over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@contextmanager
def served(
    app: FastAPI | object, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[str]:
    """The app behind a real uvicorn server on a loopback port (a free one unless
    given: an app that must know another's URL in advance), in a thread of its own.
    Yields its base URL; stops the server on exit."""
    port = port or free_port(host)
    # Keep-alive outlasts any test: otherwise a pooled connection idle for uvicorn's
    # default 5 s may be closed by the server just as the client sends on it (a
    # ReadError that says nothing about the code under test).
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        lifespan="on",
        loop="asyncio",
        timeout_keep_alive=600,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60  # generous: a loaded machine
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server failed to start")
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start in time")
            threading.Event().wait(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[str]:
    """A socket server bound to a loopback port, serving in a thread of its own (not an
    ASGI app: one that speaks raw TCP or plain http.server). Yields its base URL; shuts
    it down on exit."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def read_request_head(connection: socket.socket) -> bytes | None:
    """The bytes of an HTTP request on a raw connection up to the end of its headers
    (and whatever came with them); None if the peer closed before that."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        received += chunk
    return received
