"""Settled outbox rows (delivered, or given up) are deleted once their retention ends.

A delivered row has already lost its payload (see :mod:`shop.kit.outbox_worker`); what
is left (topic, timestamps, attempts, last error) is kept a while for whoever looks
into a delivery, then purged, so the table stays as small as its backlog. The worker
calls :func:`purge_settled` now and then; several processes doing it at once skip each
other's rows.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# Rows deleted per statement: short transactions, short row locks.
PURGE_BATCH = 1000


async def purge_settled(
    sessionmaker: async_sessionmaker[AsyncSession],
    table: Table,
    retention: timedelta,
    *,
    batch: int = PURGE_BATCH,
) -> int:
    """Deletes rows delivered or failed longer than ``retention`` ago; returns how many."""
    t = table
    cutoff = func.now() - retention
    purged = 0
    while True:
        expired = (
            select(t.c.id)
            .where((t.c.delivered_at < cutoff) | (t.c.failed_at < cutoff))
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        async with sessionmaker() as session, session.begin():
            result = await session.execute(delete(t).where(t.c.id.in_(expired.scalar_subquery())))
        count = int(getattr(result, "rowcount", 0) or 0)
        purged += count
        if count < batch:
            return purged
