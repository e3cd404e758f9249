"""Pooled database connections the server closed are replaced at checkout."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from sqlalchemy import text

from shop.kit.config import DatabaseSettings
from shop.kit.db import create_engine
from tests.kit.test_session import plain_url
from tests.support import Databases


async def test_a_connection_whose_backend_ended_is_replaced(databases: Databases) -> None:
    settings = DatabaseSettings(database_url=databases.urls["orders"], service_name="probe")
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(text("SELECT pg_backend_pid()"))
            pooled = (await connection.get_raw_connection()).driver_connection
        # Ended from outside the pool, as a PostgreSQL restart would.
        other = await asyncpg.connect(plain_url(databases.urls["orders"]))
        try:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await other.close()
        # Terminating only signals the backend; the check at checkout relies on the
        # driver having seen the socket close: wait for exactly that.
        deadline = time.monotonic() + 30
        while not pooled.is_closed():
            assert time.monotonic() < deadline, "the driver never saw the backend end"
            await asyncio.sleep(0.05)

        async with engine.connect() as connection:
            second = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await engine.dispose()
