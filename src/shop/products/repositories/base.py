"""The generic base of the products repositories: the session and the unit-of-work
operations every table shares."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import Uuid, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from shop.products.models import Base

ModelT = TypeVar("ModelT", bound=Base)

# ``= ANY(:ids)``, the ids of a page one array parameter: a statement built once with
# it is compiled once (an expanding IN is rendered anew for every list of ids).
ANY_OF_IDS = any_(bindparam("ids", type_=ARRAY(Uuid)))


class Repository(Generic[ModelT]):
    """Queries of one model on the caller's session. Flushes; never commits."""

    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: Any, *, fresh: bool = False) -> ModelT | None:
        """The row with primary key ``key``; ``fresh``: as the database has it now, not
        as this session may have seen it earlier."""
        return await self.session.get(self.model, key, populate_existing=fresh)

    def add(self, row: ModelT) -> ModelT:
        """Written at the next flush."""
        self.session.add(row)
        return row

    async def delete(self, row: ModelT) -> None:
        await self.session.delete(row)

    async def flush(self) -> None:
        """Sends what this session has pending (constraint violations raise here)."""
        await self.session.flush()
