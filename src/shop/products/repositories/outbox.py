"""The products outbox: messages written in the transaction of the change they report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.outbox import enqueue
from shop.products.models import outbox


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, topic: str, payload: dict[str, Any]) -> None:
        await enqueue(self.session, outbox, topic, payload)

    async def put_many(self, topic: str, payloads: Sequence[dict[str, Any]]) -> None:
        """One message per payload, in one INSERT."""
        if payloads:
            await self.session.execute(
                insert(outbox).values([{"topic": topic, "payload": p} for p in payloads])
            )
