"""The lean connection pool of service clients: reuses connections, never a dead one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import suppress

import httpx
import pytest

from shop.kit.http_pool import LeanConnectionPool, lean_transport

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answers: int) -> None:
    """Answers ``answers`` requests on a connection (keep-alive), then closes it."""
    try:
        for _ in range(answers):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ANSWER)
            await writer.drain()
            await asyncio.sleep(0.01)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, list[int]]]:
    """A keep-alive HTTP server answering ``request.param`` requests per connection;
    yields its URL and a list that grows by one per accepted connection (1 while it is
    open, 0 once the server has closed it)."""
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(accepted)
        accepted.append(1)
        await _serve(reader, writer, request.param)
        with suppress(ConnectionError):
            await writer.wait_closed()
        accepted[number] = 0

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"http://127.0.0.1:{port}", accepted


def _client(max_connections: int = 10) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=4)
    return httpx.AsyncClient(transport=lean_transport(limits))


def test_the_transport_uses_the_lean_pool() -> None:
    transport = lean_transport(httpx.Limits(max_connections=5))
    assert isinstance(transport._pool, LeanConnectionPool)


@pytest.mark.parametrize("server", [1000], indirect=True)
async def test_connections_are_reused_and_idle_ones_bounded(
    server: tuple[str, list[int]],
) -> None:
    url, accepted = server
    async with _client() as client:
        for _ in range(20):
            assert (await client.get(url)).text == "ok"
        assert len(accepted) == 1

        answers = await asyncio.gather(*(client.get(url) for _ in range(10)))
        assert [a.status_code for a in answers] == [200] * 10
        assert len(accepted) <= 10
        # No more idle connections are kept than max_keepalive_connections.
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert sum(c.is_idle() for c in pool.connections) <= 4


@pytest.mark.parametrize("server", [1], indirect=True)
async def test_a_connection_the_server_closed_is_never_reused(
    server: tuple[str, list[int]],
) -> None:
    url, accepted = server
    async with _client() as client:
        for _ in range(5):
            assert (await client.get(url)).text == "ok"
            deadline = time.monotonic() + 30
            while accepted[-1]:  # until the server has closed it
                assert time.monotonic() < deadline, "the server did not close it"
                await asyncio.sleep(0.01)
    assert len(accepted) == 5


@pytest.mark.parametrize("server", [1000], indirect=True)
async def test_requests_beyond_max_connections_wait_for_one(
    server: tuple[str, list[int]],
) -> None:
    url, accepted = server
    async with _client(max_connections=2) as client:
        answers = await asyncio.gather(*(client.get(url) for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len(accepted) <= 2


@pytest.mark.parametrize("server", [1000], indirect=True)
async def test_a_request_waiting_for_a_busy_pool_gets_a_pool_timeout_then_a_connection(
    server: tuple[str, list[int]],
) -> None:
    """The request that waits is signalled through its event (the pool skips the event
    only for a request that gets a connection at once)."""
    url, accepted = server
    async with _client(max_connections=1) as client:
        async with client.stream("GET", url) as held:  # the one connection, busy
            with pytest.raises(httpx.PoolTimeout):
                await client.get(url, timeout=httpx.Timeout(5.0, pool=0.2))
            waiting = asyncio.ensure_future(client.get(url))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await held.aread()
        answer = await asyncio.wait_for(waiting, timeout=30)
    assert answer.status_code == 200
    assert len(accepted) == 1
