"""One session per request, committed only by the dependency, only on success."""

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from shop.kit.config import to_async_database_url
from tests.kit.probe_app import create_probe_app
from tests.support import Databases, app_client


def plain_url(url: str) -> str:
    return to_async_database_url(url).replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def notes_db(databases: Databases) -> AsyncIterator[asyncpg.Connection]:
    # A scratch table in this worker's own database, dropped afterwards.
    connection = await asyncpg.connect(plain_url(databases.urls["orders"]))
    # Unique only at commit time, so a duplicate fails in the dependency's commit.
    await connection.execute(
        "CREATE TABLE probe_notes (body text NOT NULL,"
        " CONSTRAINT probe_notes_body_key UNIQUE (body) DEFERRABLE INITIALLY DEFERRED)"
    )
    try:
        yield connection
    finally:
        await connection.execute("DROP TABLE probe_notes")
        await connection.close()


@pytest.fixture
async def client(databases: Databases, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_probe_app(databases.urls["orders"], redis_url)) as client:
        yield client


async def test_successful_request_is_committed(
    client: httpx.AsyncClient, notes_db: asyncpg.Connection
) -> None:
    response = await client.post("/api/v1/probe/notes", json={"body": "kept"})
    assert response.status_code == 201
    # Read from another connection: the row is committed, not just flushed.
    assert await notes_db.fetchval("SELECT count(*) FROM probe_notes WHERE body = 'kept'") == 1


async def test_failed_request_writes_nothing(
    client: httpx.AsyncClient, notes_db: asyncpg.Connection
) -> None:
    response = await client.post(
        "/api/v1/probe/notes", json={"body": "lost", "fail_after_write": True}
    )
    assert response.status_code == 409
    assert await notes_db.fetchval("SELECT count(*) FROM probe_notes") == 0


async def test_a_failed_commit_is_the_response(
    client: httpx.AsyncClient, notes_db: asyncpg.Connection
) -> None:
    assert (await client.post("/api/v1/probe/notes", json={"body": "once"})).status_code == 201
    # The handler succeeds; the commit, which runs before the response is sent, does not.
    response = await client.post("/api/v1/probe/notes", json={"body": "once"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert await notes_db.fetchval("SELECT count(*) FROM probe_notes") == 1


async def test_database_url_needs_postgres() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        to_async_database_url("mysql://u:p@h/db")
    assert to_async_database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert to_async_database_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
