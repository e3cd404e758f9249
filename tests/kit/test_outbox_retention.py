"""What the outbox keeps: a settled message's payload is emptied at once, and the row
itself is purged by the worker once its retention window has passed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shop.kit.config import to_async_database_url
from shop.kit.db import create_sessionmaker
from shop.kit.db_schema import new_metadata
from shop.kit.email import EmailDeliveryError
from shop.kit.outbox import enqueue, outbox_table
from shop.kit.outbox_retention import purge_settled
from shop.kit.outbox_worker import OutboxWorker
from tests.kit.scratch_database import scratch_database
from tests.support import Databases

METADATA = new_metadata()
OUTBOX = outbox_table(METADATA)
LINK = "https://shop.example/reset-password?token=live-secret-token-4c1f"


@pytest.fixture(scope="module")
async def outbox_url(databases: Databases, worker_id: str) -> AsyncIterator[str]:
    """A scratch database with just the outbox table, for this module and worker."""
    async with scratch_database(databases, f"test_outbox_retention_{worker_id}", METADATA) as url:
        yield url


@pytest.fixture
async def db(outbox_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(outbox_url)
    await connection.execute("TRUNCATE outbox")
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def sessionmaker(
    outbox_url: str, db: asyncpg.Connection
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(to_async_database_url(outbox_url), pool_size=3)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def add(sessionmaker: async_sessionmaker[AsyncSession], payload: dict[str, Any]) -> None:
    async with sessionmaker() as session, session.begin():
        await enqueue(session, OUTBOX, "email", payload)


async def stored(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await db.fetch("SELECT payload::text AS payload, * FROM outbox"))


async def test_a_delivered_email_keeps_its_envelope_not_its_links(
    sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Connection
) -> None:
    handled: list[dict[str, Any]] = []

    async def handle(payload: dict[str, Any]) -> None:
        handled.append(payload)

    await add(sessionmaker, {"to": "ada@example.com", "text": f"Open {LINK}"})
    [pending] = await stored(db)
    assert LINK in pending["payload"]  # in flight, the worker needs it

    assert await OutboxWorker(sessionmaker, OUTBOX, {"email": handle}).run_once() == 1

    assert handled == [{"to": "ada@example.com", "text": f"Open {LINK}"}]
    [row] = await stored(db)
    assert row["delivered_at"] is not None
    assert row["payload"] == '{"to": "ada@example.com"}'  # an email keeps its envelope
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE payload::text LIKE '%token%'") == 0


async def test_a_message_given_up_keeps_nothing_of_what_it_said(
    sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Connection
) -> None:
    async def refuse(payload: dict[str, Any]) -> None:
        raise EmailDeliveryError("relay refused")

    worker = OutboxWorker(sessionmaker, OUTBOX, {"email": refuse}, max_attempts=2, base_delay=60)
    await add(sessionmaker, {"text": f"Open {LINK}"})
    assert await worker.run_once() == 0
    [retried] = await stored(db)
    assert retried["failed_at"] is None
    assert LINK in retried["payload"]  # still to be sent: kept for the next attempt
    await db.execute("UPDATE outbox SET available_at = now()")  # due at once

    assert await worker.run_once() == 0
    [row] = await stored(db)
    assert row["failed_at"] is not None
    assert row["payload"] == "{}"
    assert row["last_error"] == "EmailDeliveryError: relay refused"


async def test_the_worker_purges_settled_rows_after_the_retention_window(
    sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Connection
) -> None:
    # Two of each: settled long ago, settled just now; and a pending message from long ago.
    await db.execute(
        """
        INSERT INTO outbox (topic, payload, created_at, delivered_at, failed_at, dedupe_key)
        VALUES ('email', '{}', now() - interval '3 hours', now() - interval '2 hours', NULL,
                'old-delivered'),
               ('email', '{}', now() - interval '3 hours', NULL, now() - interval '2 hours',
                'old-failed'),
               ('email', '{}', now() - interval '3 hours', now(), NULL, 'new-delivered'),
               ('email', '{}', now() - interval '3 hours', NULL, now(), 'new-failed'),
               ('nobody-handles-this', '{"n": 1}', now() - interval '3 hours', NULL, NULL,
                'old-pending')
        """
    )
    worker = OutboxWorker(
        sessionmaker, OUTBOX, {}, retention=timedelta(hours=1), poll_interval=0.05
    )
    running = asyncio.create_task(worker.run_forever())
    old_settled = "SELECT count(*) FROM outbox WHERE dedupe_key IN ('old-delivered', 'old-failed')"
    try:
        async with asyncio.timeout(30):
            while await db.fetchval(old_settled):  # noqa: ASYNC110 (the worker's task deletes)
                await asyncio.sleep(0.05)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    left = {row["dedupe_key"] for row in await db.fetch("SELECT dedupe_key FROM outbox")}
    assert left == {"new-delivered", "new-failed", "old-pending"}


async def test_purging_works_in_batches_and_counts_what_it_deleted(
    sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Connection
) -> None:
    await db.execute(
        """
        INSERT INTO outbox (topic, payload, delivered_at)
        SELECT 'email', '{}', now() - interval '2 days' FROM generate_series(1, 25)
        """
    )
    await db.execute("INSERT INTO outbox (topic, payload, delivered_at) VALUES ('e', '{}', now())")
    assert await purge_settled(sessionmaker, OUTBOX, timedelta(days=1), batch=10) == 25
    assert await purge_settled(sessionmaker, OUTBOX, timedelta(days=1), batch=10) == 0
    async with sessionmaker() as session:
        assert len((await session.execute(select(OUTBOX.c.id))).all()) == 1
