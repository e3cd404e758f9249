"""The outbox worker: delivers due outbox messages with retries and backoff.

Each message is delivered in a transaction of its own that holds a
``FOR UPDATE SKIP LOCKED`` lock on its row until the row is marked, so
workers in any number of processes never deliver one row twice at the same
time, and a crash repeats at most the message in hand.

A message's payload may hold secrets (auth's emails carry live verification and
reset links): in the transaction that marks the row delivered or given up, it is
cut down to the fields its topic keeps (an email: its envelope, never its body),
and the settled row itself is purged after a retention window
(:mod:`shop.kit.outbox_retention`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.background import background_resource
from shop.kit.email import EmailDeliveryError
from shop.kit.health import ReadinessCheck
from shop.kit.metrics import HttpMetrics
from shop.kit.outbox import Handler
from shop.kit.outbox_backlog import outbox_backlog_gauges
from shop.kit.outbox_retention import purge_settled
from shop.kit.resource import Resource

# What a settled message keeps of its payload, by topic; other topics keep nothing.
# An email ("email", shop.kit.outbox.EMAIL_TOPIC) keeps who was sent what, not the text
# and html that carry its links.
KEPT_WHEN_SETTLED: Mapping[str, tuple[str, ...]] = {"email": ("to", "subject", "message_id")}

log = structlog.get_logger("shop.outbox")


def retry_delay(attempts: int, base_delay: float, max_delay: float) -> float:
    """Seconds until the next attempt after ``attempts`` failed ones: doubling, capped,
    minus up to a quarter of jitter so that failed messages do not retry in lockstep."""
    delay = min(max_delay, base_delay * 2.0 ** min(attempts - 1, 62))
    return delay * random.uniform(0.75, 1.0)  # noqa: S311 (not for security)


class NoHandlerError(Exception):
    """A message's topic has no handler in this worker."""


def error_summary(exc: BaseException) -> str:
    """What is stored in ``last_error``: our own errors say what went wrong; other
    exceptions only their type, as their text may hold personal data or secrets."""
    if isinstance(exc, EmailDeliveryError | NoHandlerError):
        return f"{type(exc).__name__}: {exc}"[:500]
    return type(exc).__name__


class OutboxWorker:
    """Delivers due messages to the handler of their topic. A handler raises to have the
    message retried later; it should bound its own time (senders have timeouts), as
    the message's row stays locked while it runs."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        table: Table,
        handlers: Mapping[str, Handler],
        *,
        batch_size: int = 20,
        poll_interval: float = 1.0,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        retention: timedelta | None = timedelta(days=7),
        purge_interval: float = 300.0,
        kept_when_settled: Mapping[str, tuple[str, ...]] = KEPT_WHEN_SETTLED,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.table = table
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        # Settled rows older than this are purged every ``purge_interval`` s (None: kept).
        self.retention = retention
        self.purge_interval = purge_interval
        self.kept_when_settled = kept_when_settled
        self._next_purge = 0.0

    async def run_once(self) -> int:
        """Delivers up to ``batch_size`` due messages; returns how many were delivered."""
        return (await self._run_batch())[1]

    async def _run_batch(self) -> tuple[int, int]:
        """How many messages were attempted, and how many of them delivered."""
        attempted = delivered = 0
        while attempted < self.batch_size:
            outcome = await self._deliver_one()
            if outcome is None:
                break
            attempted += 1
            delivered += outcome
        return attempted, delivered

    async def _deliver_one(self) -> bool | None:
        """One due message in a transaction of its own, locked until it is marked, so a
        crash loses or repeats at most this one. None when nothing is due."""
        t = self.table
        due = (
            select(t.c.id, t.c.topic, t.c.payload, t.c.attempts)
            .where(
                t.c.delivered_at.is_(None),
                t.c.failed_at.is_(None),
                t.c.available_at <= func.now(),
            )
            .order_by(t.c.available_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        async with self.sessionmaker() as session, session.begin():
            row = (await session.execute(due)).one_or_none()
            if row is None:
                return None
            mark = update(t).where(t.c.id == row.id)
            try:
                handler = self.handlers.get(row.topic)
                if handler is None:
                    raise NoHandlerError(f"no handler for topic {row.topic!r}")
                await handler(row.payload)
            except Exception as exc:
                attempts = row.attempts + 1
                values: dict[str, Any] = {"attempts": attempts, "last_error": error_summary(exc)}
                if attempts >= self.max_attempts:
                    values["failed_at"] = func.clock_timestamp()
                    values["payload"] = self._settled(row.topic, row.payload)
                    log.error(
                        "outbox message failed", id=str(row.id), topic=row.topic, exc_info=exc
                    )
                else:
                    delay = retry_delay(attempts, self.base_delay, self.max_delay)
                    values["available_at"] = func.clock_timestamp() + timedelta(seconds=delay)
                    log.warning(
                        "outbox message will be retried",
                        id=str(row.id),
                        topic=row.topic,
                        attempts=attempts,
                        exc_info=exc,
                    )
                await session.execute(mark.values(values))
                return False
            await session.execute(
                # Sent: what it said (links with live tokens) is not kept.
                mark.values(
                    attempts=row.attempts + 1,
                    delivered_at=func.clock_timestamp(),
                    payload=self._settled(row.topic, row.payload),
                )
            )
            return True

    def _settled(self, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        """What a delivered or given-up message keeps of its payload."""
        kept = self.kept_when_settled.get(topic, ())
        return {name: payload[name] for name in kept if name in payload}

    async def purge_if_due(self) -> int:
        """Purges settled rows past their retention, at most every ``purge_interval`` s."""
        if self.retention is None or time.monotonic() < self._next_purge:
            return 0
        self._next_purge = time.monotonic() + self.purge_interval
        return await purge_settled(self.sessionmaker, self.table, self.retention)

    async def run_forever(self) -> None:
        """Delivers until cancelled; a failing database is logged and tried again."""
        while True:
            try:
                attempted, _ = await self._run_batch()
            except Exception:
                log.exception("outbox poll failed")
                attempted = 0
            try:
                await self.purge_if_due()
            except Exception:
                log.exception("outbox purge failed")
            if attempted < self.batch_size:  # else more may be due at once
                await asyncio.sleep(self.poll_interval)


def outbox_worker_resource(worker_factory: Callable[[FastAPI], OutboxWorker]) -> Resource:
    """Runs a worker for the app's lifetime (``app.state.outbox``, readiness check
    ``outbox``) and reports the backlog on ``/metrics``. List it after the database
    resource: the factory reads ``app.state.sessionmaker``."""
    running = background_resource("outbox", worker_factory)

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        async with running(app) as checks:
            worker: OutboxWorker = app.state.outbox
            metrics: HttpMetrics = app.state.metrics
            backlog = outbox_backlog_gauges(worker.sessionmaker, worker.table, metrics.service)
            with metrics.collecting(backlog, backlog.refresh):
                yield checks

    return resource
