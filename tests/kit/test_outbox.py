"""The transactional outbox against a real PostgreSQL, in a scratch database."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, Table, func, select, text, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shop.kit.app import create_service_app
from shop.kit.config import DatabaseSettings, to_async_database_url
from shop.kit.db import create_sessionmaker, database_resource
from shop.kit.db_schema import NAMING_CONVENTION, new_metadata
from shop.kit.email import EmailDeliveryError, EmailMessage, FileEmailSender
from shop.kit.logging import configure_logging
from shop.kit.outbox import enqueue, outbox_table
from shop.kit.outbox_email import email_handler, enqueue_email
from shop.kit.outbox_worker import OutboxWorker, outbox_worker_resource, retry_delay
from tests.kit.scratch_database import scratch_database
from tests.support import Databases, app_client

METADATA = new_metadata()
OUTBOX = outbox_table(METADATA)


class Recorder:
    """A real handler: keeps every payload it is given, optionally after a pause."""

    def __init__(self, pause: float = 0.0) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.pause = pause

    async def __call__(self, payload: dict[str, Any]) -> None:
        if self.pause:
            await asyncio.sleep(self.pause)
        self.payloads.append(payload)


def engine_for(url: str) -> AsyncEngine:
    return create_async_engine(to_async_database_url(url), pool_size=5)


@pytest.fixture(scope="module")
async def outbox_url(databases: Databases, worker_id: str) -> AsyncIterator[str]:
    """A scratch database with just the outbox table, for this module and worker."""
    async with scratch_database(databases, f"test_outbox_{worker_id}", METADATA) as url:
        yield url


@pytest.fixture(scope="module")
async def engine(outbox_url: str) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(outbox_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL lock_timeout = '5s'"))
        await connection.execute(text("TRUNCATE outbox"))
    return create_sessionmaker(engine)


async def add(
    sessionmaker: async_sessionmaker[AsyncSession],
    topic: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    table: Table = OUTBOX,
) -> None:
    """Enqueues and commits, as a service's request would."""
    async with sessionmaker() as session, session.begin():
        await enqueue(session, table, topic, payload, dedupe_key)


async def rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Any]:
    async with sessionmaker() as session:
        result = await session.execute(select(OUTBOX).order_by(OUTBOX.c.created_at))
        return list(result.all())


async def db_now(sessionmaker: async_sessionmaker[AsyncSession]) -> datetime:
    async with sessionmaker() as session:
        now: datetime = (await session.execute(select(func.clock_timestamp()))).scalar_one()
        return now


def files_in(directory: Path) -> list[tuple[Path, str]]:
    return [(path, path.read_text()) for path in sorted(directory.iterdir())]


async def eventually(condition: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def test_the_table_follows_the_naming_convention() -> None:
    assert OUTBOX.metadata.naming_convention == NAMING_CONVENTION
    [index] = OUTBOX.indexes
    assert index.name == "ix_outbox_available_at"
    assert str(index.dialect_options["postgresql"]["where"]) == (
        "outbox.delivered_at IS NULL AND outbox.failed_at IS NULL"
    )
    assert OUTBOX.primary_key.name == "pk_outbox"
    assert {c.name for c in OUTBOX.constraints} >= {"pk_outbox", "uq_outbox_dedupe_key"}


async def test_a_rolled_back_change_leaves_nothing_to_send(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async def failing_change() -> None:
        async with sessionmaker() as session, session.begin():
            await enqueue(session, OUTBOX, "note", {"n": 1})
            # enqueue did not commit: another connection sees nothing yet.
            assert await rows(sessionmaker) == []
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        await failing_change()
    assert await rows(sessionmaker) == []
    recorder = Recorder()
    assert await OutboxWorker(sessionmaker, OUTBOX, {"note": recorder}).run_once() == 0
    assert recorder.payloads == []


async def test_a_committed_message_is_delivered_exactly_once(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    recorder = Recorder()
    worker = OutboxWorker(sessionmaker, OUTBOX, {"note": recorder})
    await add(sessionmaker, "note", {"n": 1, "text": "é"})
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert recorder.payloads == [{"n": 1, "text": "é"}]
    [row] = await rows(sessionmaker)
    assert row.delivered_at is not None
    assert row.failed_at is None
    assert row.attempts == 1


async def test_a_failing_handler_is_retried_with_growing_delays_then_given_up(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    calls = 0

    async def refuse(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise EmailDeliveryError("SMTP relay refused the message")

    # Delays long enough that "not due yet" holds on a loaded machine; the test makes
    # the message due itself (as if the delay had passed) instead of waiting it out.
    base = 10.0
    worker = OutboxWorker(
        sessionmaker, OUTBOX, {"email": refuse}, base_delay=base, max_attempts=4, max_delay=600
    )
    await add(sessionmaker, "email", {"n": 1})
    delays: list[float] = []
    for attempt in (1, 2, 3):
        before = await db_now(sessionmaker)
        assert await worker.run_once() == 0
        after = await db_now(sessionmaker)
        [row] = await rows(sessionmaker)
        assert (row.attempts, calls) == (attempt, attempt)
        assert row.failed_at is None
        assert row.delivered_at is None
        assert row.last_error == "EmailDeliveryError: SMTP relay refused the message"
        # available_at = (the moment of the failure, between before and after) + delay,
        # the delay doubling with each attempt, less up to a quarter of jitter.
        expected = base * 2 ** (attempt - 1)
        assert (row.available_at - before).total_seconds() >= expected * 0.75
        assert (row.available_at - after).total_seconds() <= expected
        delays.append((row.available_at - after).total_seconds())
        # Not due yet: nothing is attempted before available_at.
        assert await worker.run_once() == 0
        assert calls == attempt
        await _make_due(sessionmaker)
    assert delays[0] < delays[1] < delays[2]

    assert await worker.run_once() == 0  # the fourth and last attempt
    [row] = await rows(sessionmaker)
    assert (row.attempts, calls) == (4, 4)
    assert row.failed_at is not None
    assert row.delivered_at is None
    assert row.available_at <= await db_now(sessionmaker)  # due, were it not given up
    assert await worker.run_once() == 0
    assert calls == 4  # given up for good


async def _make_due(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(update(OUTBOX).values(available_at=func.clock_timestamp()))


async def test_recorded_errors_are_short_and_hold_no_secrets(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async def leak(payload: dict[str, Any]) -> None:
        raise RuntimeError("password=hunter2 for ada@example.com")

    worker = OutboxWorker(sessionmaker, OUTBOX, {"leaky": leak})
    await add(sessionmaker, "leaky", {"n": 1})
    await add(sessionmaker, "unknown", {"n": 2})
    assert await worker.run_once() == 0
    errors = {row.topic: row.last_error for row in await rows(sessionmaker)}
    assert errors == {
        "leaky": "RuntimeError",
        "unknown": "NoHandlerError: no handler for topic 'unknown'",
    }


def test_retry_delays_double_up_to_the_cap_with_jitter() -> None:
    for attempts, full in ((1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (500, 300.0)):
        samples = [retry_delay(attempts, 1.0, 300.0) for _ in range(200)]
        assert all(full * 0.75 <= s <= full for s in samples)
        assert len(set(samples)) > 1  # jittered


async def test_two_workers_deliver_each_message_exactly_once(
    sessionmaker: async_sessionmaker[AsyncSession], outbox_url: str
) -> None:
    async with sessionmaker() as session, session.begin():
        for n in range(40):
            await enqueue(session, OUTBOX, "note", {"n": n})
    recorder = Recorder(pause=0.005)  # both workers see the handler, as two processes would
    other_engine = engine_for(outbox_url)  # a pool of its own, like another process
    try:
        first = OutboxWorker(sessionmaker, OUTBOX, {"note": recorder}, batch_size=5)
        second = OutboxWorker(
            create_sessionmaker(other_engine), OUTBOX, {"note": recorder}, batch_size=5
        )
        totals = [0, 0]
        while sum(totals) < 40:
            one, two = await asyncio.gather(first.run_once(), second.run_once())
            assert one + two > 0
            totals = [totals[0] + one, totals[1] + two]
    finally:
        await other_engine.dispose()
    assert sorted(p["n"] for p in recorder.payloads) == list(range(40))
    assert totals[0] > 0
    assert totals[1] > 0
    assert {row.attempts for row in await rows(sessionmaker)} == {1}


async def test_a_message_being_delivered_is_locked_against_other_workers(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    delivered: list[dict[str, Any]] = []

    async def slow(payload: dict[str, Any]) -> None:
        started.set()
        await release.wait()
        delivered.append(payload)

    other = Recorder()
    await add(sessionmaker, "note", {"n": 1})
    first = asyncio.create_task(OutboxWorker(sessionmaker, OUTBOX, {"note": slow}).run_once())
    try:
        await started.wait()
        # The row is due and undelivered, but held: the second worker skips it at once.
        async with asyncio.timeout(5):
            assert await OutboxWorker(sessionmaker, OUTBOX, {"note": other}).run_once() == 0
    finally:
        release.set()  # a failure above must not leave the row locked for later tests
        delivered_by_first = await first
    assert delivered_by_first == 1
    assert await OutboxWorker(sessionmaker, OUTBOX, {"note": other}).run_once() == 0
    assert delivered == [{"n": 1}]
    assert other.payloads == []


async def test_messages_committed_while_no_worker_runs_are_delivered_later(
    sessionmaker: async_sessionmaker[AsyncSession], outbox_url: str
) -> None:
    # The process commits and dies before anything is sent ...
    await add(sessionmaker, "note", {"n": 1})
    # ... and a worker started afterwards, in a new process, sends it.
    engine = engine_for(outbox_url)
    try:
        recorder = Recorder()
        worker = OutboxWorker(create_sessionmaker(engine), OUTBOX, {"note": recorder})
        assert await worker.run_once() == 1
    finally:
        await engine.dispose()
    assert recorder.payloads == [{"n": 1}]


async def test_a_worker_dying_mid_delivery_leaves_the_message_for_another(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    started = asyncio.Event()

    async def hang(payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    await add(sessionmaker, "note", {"n": 1})
    dying = asyncio.create_task(OutboxWorker(sessionmaker, OUTBOX, {"note": hang}).run_once())
    await started.wait()
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying
    recorder = Recorder()
    assert await OutboxWorker(sessionmaker, OUTBOX, {"note": recorder}).run_once() == 1
    assert recorder.payloads == [{"n": 1}]
    [row] = await rows(sessionmaker)
    assert row.attempts == 1  # the interrupted attempt was rolled back


async def test_a_duplicate_dedupe_key_is_ignored(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await add(sessionmaker, "note", {"n": 1}, dedupe_key="order-7-confirmation")
    await add(sessionmaker, "note", {"n": 2}, dedupe_key="order-7-confirmation")
    async with sessionmaker() as session, session.begin():
        await enqueue(session, OUTBOX, "note", {"n": 3}, dedupe_key="k")
        await enqueue(session, OUTBOX, "note", {"n": 4}, dedupe_key="k")
    await add(sessionmaker, "note", {"n": 5})  # no key: never a duplicate
    await add(sessionmaker, "note", {"n": 6})
    recorder = Recorder()
    assert await OutboxWorker(sessionmaker, OUTBOX, {"note": recorder}).run_once() == 4
    assert sorted(p["n"] for p in recorder.payloads) == [1, 3, 5, 6]
    # A duplicate of an already delivered message is not sent again either.
    await add(sessionmaker, "note", {"n": 7}, dedupe_key="k")
    assert await OutboxWorker(sessionmaker, OUTBOX, {"note": recorder}).run_once() == 0


async def test_emails_go_through_the_outbox_once(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    message = EmailMessage(
        to="ada@example.com", subject="Your order", text="Thanks!", html="<p>Thanks!</p>"
    )
    for _ in range(2):  # a retried request enqueues the same message again
        async with sessionmaker() as session, session.begin():
            await enqueue_email(session, OUTBOX, message)
    [row] = await rows(sessionmaker)
    assert (row.topic, row.dedupe_key) == ("email", message.message_id)
    sender = FileEmailSender(tmp_path, "shop@example.com")
    worker = OutboxWorker(sessionmaker, OUTBOX, {"email": email_handler(sender)})
    assert await worker.run_once() == 1
    [(path, content)] = files_in(tmp_path)
    assert path == sender.path_for(message)
    assert f"Message-ID: {message.message_id}" in content


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    configure_logging("outbox-test", "json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


async def test_run_forever_survives_database_errors(
    sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine, json_logs: io.StringIO
) -> None:
    # An outbox in a schema that does not exist yet: every poll fails at first.
    late = outbox_table(MetaData(schema="late", naming_convention=NAMING_CONVENTION))
    recorder = Recorder()
    worker = OutboxWorker(sessionmaker, late, {"note": recorder}, poll_interval=0.02)
    task = asyncio.create_task(worker.run_forever())
    try:
        await eventually(lambda: json_logs.getvalue().count("outbox poll failed") >= 2)
        assert not task.done()
        async with engine.begin() as connection:
            await connection.execute(text("CREATE SCHEMA late"))
            await connection.run_sync(late.metadata.create_all)
        await add(sessionmaker, "note", {"n": 1}, table=late)
        await eventually(lambda: recorder.payloads == [{"n": 1}])
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS late CASCADE"))
    failures = [
        json.loads(line)
        for line in json_logs.getvalue().splitlines()
        if "outbox poll failed" in line
    ]
    assert failures[0]["level"] == "error"


def _probe_app(outbox_url: str, recorder: Recorder) -> FastAPI:
    """A service app whose outbox worker hands ``note`` messages to ``recorder``."""
    settings = DatabaseSettings(
        service_name="outbox-probe", database_url=outbox_url, log_format="json"
    )

    def worker(app: Any) -> OutboxWorker:
        return OutboxWorker(app.state.sessionmaker, OUTBOX, {"note": recorder}, poll_interval=0.02)

    return create_service_app(
        settings,
        title="Outbox probe",
        resources=[database_resource(settings), outbox_worker_resource(worker)],
    )


async def test_the_resource_runs_the_worker_for_the_apps_lifetime(
    sessionmaker: async_sessionmaker[AsyncSession], outbox_url: str
) -> None:
    recorder = Recorder()
    app = _probe_app(outbox_url, recorder)
    async with asyncio.timeout(10), app_client(app) as client:  # shutdown must not hang
        task: asyncio.Task[None] = app.state.outbox_task
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "outbox": "ok"}
        await add(sessionmaker, "note", {"n": 1})
        await eventually(lambda: recorder.payloads == [{"n": 1}])
        assert not task.done()
    assert task.cancelled()  # stopped with the app, not left running

    # A worker task that has died makes the service unready.
    async with asyncio.timeout(10), app_client(app) as client:
        task = app.state.outbox_task
        task.cancel()
        await asyncio.sleep(0)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["outbox"] == "RuntimeError"
    assert task.done()


async def test_the_backlog_is_on_metrics(
    sessionmaker: async_sessionmaker[AsyncSession], outbox_url: str
) -> None:
    recorder = Recorder()
    app = _probe_app(outbox_url, recorder)
    async with asyncio.timeout(10), app_client(app) as client:
        await add(sessionmaker, "note", {"n": 1})
        await eventually(lambda: recorder.payloads == [{"n": 1}])
        # No handler for this topic: retried later, so pending meanwhile.
        await add(sessionmaker, "unknown", {"n": 2})
        await add(sessionmaker, "unknown", {"n": 3})
        async with sessionmaker() as session, session.begin():
            await session.execute(text("UPDATE outbox SET created_at = now() - interval '90 s'"))
        text_format = (await client.get("/metrics")).text
    assert 'outbox_pending_messages{service="outbox-probe"} 2.0' in text_format
    [age] = [
        line for line in text_format.splitlines() if line.startswith("outbox_oldest_pending_age")
    ]
    assert 90 <= float(age.split()[-1]) < 120
