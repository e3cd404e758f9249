"""A unit of work: one transaction, committed in one place.

The request's session (``shop.kit.db.Session``) commits once, when the handler
returns. A saga cannot work that way: placing an order commits a step, calls
another service with no transaction open, then commits the next step. Each
step is a unit of work::

    async with unit_of_work(sessionmaker) as session:
        ...  # repositories flush; the block's end commits (or rolls back on error)

Callbacks registered with ``shop.kit.db.after_commit`` run after the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import AfterCommit


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
        for callback in callbacks:
            await callback()
