"""The outbox backlog as Prometheus gauges: messages waiting to be delivered, and
how long the oldest has waited. A growing age means delivery is stuck (a failing
email backend, a dead worker), whatever the request metrics say."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.queried_metrics import QueriedGauges

BACKLOG_GAUGES = {
    "outbox_pending_messages": "Outbox messages neither delivered nor given up (whole database).",
    "outbox_oldest_pending_age_seconds": (
        "Age of the oldest outbox message neither delivered nor given up; 0 when none."
    ),
}


def outbox_backlog_gauges(
    sessionmaker: async_sessionmaker[AsyncSession], table: Table, service: str
) -> QueriedGauges:
    t = table
    # The partial index on pending rows keeps this cheap however many were delivered.
    backlog = select(
        func.count(),
        func.coalesce(func.extract("epoch", func.now() - func.min(t.c.created_at)), 0),
    ).where(t.c.delivered_at.is_(None), t.c.failed_at.is_(None))

    async def query() -> Mapping[str, float]:
        async with sessionmaker() as session:
            pending, oldest_age = (await session.execute(backlog)).one()
        return {
            "outbox_pending_messages": float(pending),
            "outbox_oldest_pending_age_seconds": float(oldest_age),
        }

    return QueriedGauges(service, BACKLOG_GAUGES, query)
