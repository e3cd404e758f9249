"""A transactional outbox: side effects (emails ...) that happen if and only if
the change that causes them is committed.

A service adds the ``outbox`` table to its metadata (:func:`outbox_table`) and
calls :func:`enqueue` in the transaction of the change; a rolled-back change
leaves nothing to send. An ``OutboxWorker`` running in every process of the
service delivers what is due to the :data:`Handler` of each topic. Delivery is
at least once: a handler that succeeds just before its process dies is called
again, so handlers should be idempotent (emails carry their Message-ID for that).

This module holds only the table and what writes to it, so that a service's
models import no more than SQLAlchemy: the worker (which runs in the app) is
:mod:`shop.kit.outbox_worker`, emails through the outbox :mod:`shop.kit.outbox_email`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, Table, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

# Delivers one message's payload; raises to have the message retried later.
Handler = Callable[[dict[str, Any]], Awaitable[None]]


def outbox_table(metadata: MetaData) -> Table:
    """The ``outbox`` table, on the service's metadata (so its migrations create it)."""
    table = Table(
        "outbox",
        metadata,
        Column("id", Uuid, primary_key=True, server_default=func.gen_random_uuid()),
        Column("topic", Text, nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("dedupe_key", Text, nullable=True, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # When the next attempt is due.
        Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        Column("delivered_at", DateTime(timezone=True), nullable=True),
        # Given up after too many attempts.
        Column("failed_at", DateTime(timezone=True), nullable=True),
    )
    Index(
        None,
        table.c.available_at,
        postgresql_where=table.c.delivered_at.is_(None) & table.c.failed_at.is_(None),
    )
    return table


async def enqueue(
    session: AsyncSession,
    table: Table,
    topic: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
) -> None:
    """Adds a message in the caller's transaction (never commits). A message whose
    ``dedupe_key`` is already in the outbox is ignored."""
    statement = pg_insert(table).values(topic=topic, payload=payload, dedupe_key=dedupe_key)
    await session.execute(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]))
