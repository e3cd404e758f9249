"""A scratch database holding only the tables a kit test declares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from shop.kit.config import to_async_database_url
from tests.support import Databases, with_database


@asynccontextmanager
async def scratch_database(
    databases: Databases, name: str, metadata: MetaData
) -> AsyncIterator[str]:
    """The URL of a new database ``name`` with ``metadata``'s tables, dropped after."""
    admin = await asyncpg.connect(databases.admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(databases.admin_url, name)
    engine = create_async_engine(to_async_database_url(url))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()
    yield url
    admin = await asyncpg.connect(databases.admin_url)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
