"""Expired holds are given back: the sweep itself, several sweepers, the running resource."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shop.cli.processes import free_port
from shop.kit.config import to_async_database_url
from shop.kit.db import create_sessionmaker
from shop.products.models import ReservationStatus, StockReason
from shop.products.reservations import SWEEPER_ACTOR, commit, release, reserve, sweep_expired
from shop.products.sweeper import ReservationSweeper
from tests.products.reservation_support import Books, books_for, reservations_env
from tests.support import Databases

TTL = timedelta(minutes=15)


@pytest.fixture
async def books(databases: Databases, redis_url: str) -> AsyncIterator[Books]:
    async with books_for(databases, redis_url) as opened:
        yield opened


async def _hold(books: Books, *lines: tuple[uuid.UUID, int]) -> uuid.UUID:
    order_id = uuid.uuid4()
    async with books.sessionmaker() as session, session.begin():
        await reserve(session, order_id, list(lines), ttl=TTL, actor="test")
    return order_id


async def test_the_sweep_releases_expired_holds_only(books: Books) -> None:
    product = await books.product(10)
    expired = await _hold(books, (product, 2))
    also_expired = await _hold(books, (product, 1))
    fresh = await _hold(books, (product, 3))
    committed = await _hold(books, (product, 1))
    released = await _hold(books, (product, 1))
    async with books.sessionmaker() as session, session.begin():
        await commit(session, committed, "test")
        await release(session, released, "test")
    for order_id in (expired, also_expired, committed, released):
        await books.age(order_id)
    assert await books.levels(product) == (9, 6)

    async with books.sessionmaker() as session, session.begin():
        assert await sweep_expired(session) == 2
    async with books.sessionmaker() as session, session.begin():
        assert await sweep_expired(session) == 0

    statuses = {}
    for order_id in (expired, also_expired, fresh):
        record = await books.reservation(order_id)
        assert record is not None
        statuses[order_id] = record.status
    assert statuses == {
        expired: ReservationStatus.RELEASED,
        also_expired: ReservationStatus.RELEASED,
        fresh: ReservationStatus.HELD,
    }
    assert await books.levels(product) == (9, 3)
    [row] = [m for m in await books.ledger(order_id=expired) if m.reason == StockReason.EXPIRY]
    assert (row.reserved_delta, row.on_hand_delta, row.actor) == (-2, 0, SWEEPER_ACTOR)
    await books.assert_balanced(product)


async def test_the_sweep_honours_its_clock_and_its_limit(books: Books) -> None:
    product = await books.product(10)
    orders = [await _hold(books, (product, 1)) for _ in range(5)]
    async with books.sessionmaker() as session, session.begin():
        assert await sweep_expired(session, now=datetime.now(UTC)) == 0
    later = datetime.now(UTC) + TTL + timedelta(seconds=1)
    async with books.sessionmaker() as session, session.begin():
        assert await sweep_expired(session, now=later, limit=3) == 3
    async with books.sessionmaker() as session, session.begin():
        assert await sweep_expired(session, now=later, limit=3) == 2
    for order_id in orders:
        record = await books.reservation(order_id)
        assert record is not None
        assert record.status == ReservationStatus.RELEASED
    assert await books.levels(product) == (10, 0)
    await books.assert_balanced(product)


async def test_sweepers_skip_what_another_is_releasing(books: Books) -> None:
    product = await books.product(20)
    other = await books.product(20)
    orders = [await _hold(books, (product, 1), (other, 2)) for _ in range(6)]
    for order_id in orders:
        await books.age(order_id)

    async with books.sessionmaker() as first, books.sessionmaker() as second:
        await first.begin()
        assert await sweep_expired(first, limit=4) == 4

        async def sweep_second() -> int:
            async with second.begin():
                return await sweep_expired(second)

        # The second sweeper takes the two reservations the first left; it waits for the
        # first only for the stock rows they share, and never releases a hold twice.
        swept = asyncio.create_task(sweep_second())
        await books.wait_until_blocking(first)
        await first.commit()
        assert await asyncio.wait_for(swept, 5) == 2

    assert await books.levels(product) == (20, 0)
    assert await books.levels(other) == (20, 0)
    for order_id in orders:
        expiries = [
            m for m in await books.ledger(order_id=order_id) if m.reason == StockReason.EXPIRY
        ]
        assert len(expiries) == 2  # once per line, never twice
    await books.assert_balanced(product, other)


async def test_a_hold_being_released_is_not_swept_again(books: Books) -> None:
    """A release holds the reservation's row lock: a sweeper skips it rather than wait,
    and the units come back once."""
    product = await books.product(5)
    order_id = await _hold(books, (product, 2))
    await books.age(order_id)
    async with books.sessionmaker() as releasing, books.sessionmaker() as sweeping:
        await releasing.begin()
        await release(releasing, order_id, "test")
        async with sweeping.begin():
            assert await asyncio.wait_for(sweep_expired(sweeping), 5) == 0
        await releasing.commit()
    async with books.sessionmaker() as session, session.begin():
        assert await sweep_expired(session) == 0
    assert await books.levels(product) == (5, 0)
    reasons = [m.reason for m in await books.ledger(order_id=order_id)]
    assert reasons == [StockReason.RESERVATION, StockReason.RELEASE]
    await books.assert_balanced(product)


async def test_the_running_service_sweeps_on_its_own(
    databases: Databases, redis_url: str, tmp_path: Path
) -> None:
    async with reservations_env(
        databases, redis_url, tmp_path, sweeper_interval_seconds=0.05
    ) as env:
        product = await env.books.product(4)
        order_id = uuid.uuid4()
        assert (await env.reserve(order_id, (product, 3))).status_code == 201
        await asyncio.sleep(0.2)
        assert (await env.get(order_id)).json()["status"] == "held"  # not expired yet

        await env.books.age(order_id)
        deadline = time.monotonic() + 10
        while (await env.get(order_id)).json()["status"] != "released":
            assert time.monotonic() < deadline, "the sweeper did not release the hold"
            await asyncio.sleep(0.05)

        assert await env.books.levels(product) == (4, 0)
        await env.books.assert_balanced(product)
        ready = await env.client.get("/health/ready")
        assert ready.json()["checks"]["reservation_sweeper"] == "ok"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@asynccontextmanager
async def _forwarding(port: int, host: str, to_port: int) -> AsyncIterator[None]:
    """Connections to ``port`` reach ``host:to_port``: the way to the database, open."""

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, to_port)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", port)
    async with server:
        yield


async def _stopped(task: asyncio.Task[None], engine: AsyncEngine) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    await engine.dispose()


async def test_the_sweeper_survives_a_database_it_cannot_reach(
    books: Books, databases: Databases
) -> None:
    """Nothing listens where the sweeper's database should be; it logs each failed round
    and tries again, and once the database can be reached, it sweeps (the same task)."""
    product = await books.product(2)
    order_id = await _hold(books, (product, 2))
    await books.age(order_id)
    database = make_url(to_async_database_url(databases.urls["products"]))
    port = free_port()
    engine = create_async_engine(database.set(port=port), connect_args={"timeout": 5})
    sweeper = ReservationSweeper(create_sessionmaker(engine), interval=0.05)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(sweeper.run_forever())
        try:
            deadline = time.monotonic() + 30
            while sum(e["event"] == "reservation sweep failed" for e in logs) < 3:
                assert time.monotonic() < deadline, "the sweeper did not try again"
                assert not task.done()
                await asyncio.sleep(0.05)
            assert await books.levels(product) == (2, 2)

            assert database.host is not None
            assert database.port is not None
            async with _forwarding(port, database.host, database.port):
                while (await books.levels(product)) != (2, 0):
                    assert time.monotonic() < deadline + 30, "the sweeper did not recover"
                    assert not task.done()
                    await asyncio.sleep(0.05)
                await _stopped(task, engine)  # before the way to the database closes
        finally:
            await _stopped(task, engine)
    record = await books.reservation(order_id)
    assert record is not None
    assert record.status == ReservationStatus.RELEASED
    await books.assert_balanced(product)
