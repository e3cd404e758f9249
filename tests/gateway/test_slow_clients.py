"""Slow clients cannot pin the gateway: a real gateway process (``shop serve gateway``),
hundreds of connections trickling their uploads from one address, and another
client's reads still answered. Deadlines are short here to keep the test short; no
assert depends on how long anything took."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from shop.cli.processes import free_port
from shop.gateway.slow_clients import ClientConcurrencyMiddleware, ClientSlots
from tests.gateway.services import PROBLEM, SERVICES, echo_app
from tests.kit.service_process import clean_environment, running, shop_serve
from tests.support import served

UPLOADS = 300
PER_CLIENT = 20
ATTACKER = "127.0.0.1"
OTHER_CLIENT = "127.0.0.2"  # another address on the loopback network


@dataclass(frozen=True)
class Gateway:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with ExitStack() as stack:
        urls = {name: stack.enter_context(served(echo_app(name))) for name in SERVICES}
        port = free_port()
        env = clean_environment(
            GATEWAY_PORT=str(port),
            AUTH_URLS=urls["auth"],
            PRODUCTS_URLS=urls["products"],
            ORDERS_URLS=urls["orders"],
            REDIS_URL=os.environ["TEST_REDIS_URL"],
            LOG_FORMAT="json",
            LOG_LEVEL="WARNING",
            MAX_REQUESTS_PER_CLIENT=str(PER_CLIENT),
            UPLOAD_RECEIVE_TIMEOUT="12",
            REQUEST_RECEIVE_TIMEOUT="3",
            REQUEST_HEAD_TIMEOUT="3",
        )
        workdir: Path = tmp_path_factory.mktemp("gateway")
        gateway = Gateway("127.0.0.1", port)
        stack.enter_context(running(shop_serve("gateway"), env, gateway.url, workdir))
        yield gateway


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


async def read_answer(reader: asyncio.StreamReader) -> Answer | None:
    """The response on a raw connection, or None if it was closed without one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(int(lines[0].split()[1]), headers.get("content-type", ""), body)


async def trickle(gateway: Gateway, head: bytes, answered: asyncio.Queue[int]) -> Answer | None:
    """Sends ``head``, then its body a byte every half second, until the gateway answers
    or hangs up; the answer."""
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    try:
        writer.write(head)
        answer = asyncio.create_task(read_answer(reader))
        while not answer.done():
            try:
                writer.write(b"x")
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait({answer}, timeout=0.5)
        result = await answer
        await answered.put(result.status if result else 0)
        return result
    finally:
        writer.close()


def upload_head() -> bytes:
    return (
        f"POST /api/v1/products/{uuid.uuid4()}/images HTTP/1.1\r\n"
        "Host: shop.example\r\n"
        "Content-Type: multipart/form-data; boundary=slow\r\n"
        "Content-Length: 5000000\r\n\r\n"
    ).encode()


async def test_trickling_uploads_from_one_address_do_not_starve_other_clients(
    gateway: Gateway,
) -> None:
    answered: asyncio.Queue[int] = asyncio.Queue()
    uploads = [
        asyncio.create_task(trickle(gateway, upload_head(), answered)) for _ in range(UPLOADS)
    ]
    try:
        # The uploads beyond the address's share are turned away at once ...
        for _ in range(UPLOADS - PER_CLIENT):
            assert await asyncio.wait_for(answered.get(), 60) == 429
        # ... while its share trickles on: the gateway still serves everyone else.
        transport = httpx.AsyncHTTPTransport(local_address=OTHER_CLIENT)
        async with httpx.AsyncClient(
            transport=transport, base_url=gateway.url, timeout=30
        ) as other:
            for _ in range(20):
                read = await other.get("/api/v1/products")
                assert read.status_code == 200, read.text
                assert read.json()["service"] == "products"
        # The share's uploads end at their deadline: 408, and the connection closed.
        answers = await asyncio.wait_for(asyncio.gather(*uploads), 120)
    finally:
        for upload in uploads:
            upload.cancel()
    statuses = [answer.status if answer else None for answer in answers]
    assert statuses.count(429) >= UPLOADS - PER_CLIENT
    assert statuses.count(408) == UPLOADS - statuses.count(429)
    for answer in answers:
        assert answer is not None
        assert answer.content_type == PROBLEM
        assert orjson.loads(answer.body)["status"] == answer.status


async def test_a_body_not_sent_in_time_is_answered_408(gateway: Gateway) -> None:
    head = (
        b"POST /api/v1/orders HTTP/1.1\r\nHost: shop.example\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    answer = await asyncio.wait_for(trickle(gateway, head, asyncio.Queue()), 60)
    assert answer is not None
    assert answer.status == 408
    assert answer.content_type == PROBLEM


@pytest.mark.parametrize("trickles", [False, True], ids=["idle", "trickling-a-header"])
async def test_a_request_head_not_sent_in_time_closes_the_connection(
    gateway: Gateway, trickles: bool
) -> None:
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)

    async def trickle_a_header() -> None:
        writer.write(b"GET /api/v1/products HTTP/1.1\r\nHost: shop.example\r\nX-Slow: ")
        try:
            while True:
                await asyncio.sleep(0.5)
                writer.write(b"a")
                await writer.drain()
        except ConnectionError:
            return

    trickling = asyncio.create_task(trickle_a_header()) if trickles else None
    try:
        # Closed by the gateway, without an answer (it never had a whole request).
        assert await asyncio.wait_for(reader.read(), 60) == b""
    finally:
        if trickling is not None:
            trickling.cancel()
        writer.close()
    # Everyone else is still served.
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        assert (await client.get("/api/v1/products")).status_code == 200


async def test_an_ipv6_client_is_one_64_for_requests_in_progress() -> None:
    """Its many addresses do not multiply what one IPv6 client may hold open."""
    release = asyncio.Event()
    arrived: asyncio.Queue[None] = asyncio.Queue()  # one item per request let through

    async def held(scope: Scope, receive: Receive, send: Send) -> None:
        arrived.put_nowait(None)
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = ClientConcurrencyMiddleware(held, slots=ClientSlots(1, trusted_proxies=()))

    async def request(address: str) -> int:
        scope: Scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [],
            "client": (address, 40000),
            "query_string": b"",
        }
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await guard(scope, receive, send)
        return int(sent[0]["status"])

    first = asyncio.create_task(request("2001:db8:1:2::1"))
    await asyncio.wait_for(arrived.get(), 30)
    # Another address of the same /64: refused at once (let through, it would wait).
    assert await asyncio.wait_for(request("2001:db8:1:2::ffff"), 30) == 429
    other = asyncio.create_task(request("2001:db8:1:3::1"))  # another /64: let in
    await asyncio.wait_for(arrived.get(), 30)
    release.set()
    assert await first == 200
    assert await other == 200
