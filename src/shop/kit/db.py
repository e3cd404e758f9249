"""Async SQLAlchemy: engine, one session per request, units of work (the metadata
service models declare their tables on is in :mod:`shop.kit.db_schema`).

The session dependency is the single place where a request's work is
committed: repositories and service functions only ``flush``. If the handler
raises, the transaction is rolled back and nothing is written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shop.kit.config import DatabaseSettings
from shop.kit.db_metrics import DatabasePoolCollector
from shop.kit.health import ReadinessCheck
from shop.kit.metrics import HttpMetrics
from shop.kit.resource import Resource


def _discard_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """On checkout: a pooled connection the server has closed is replaced by a new one.

    This stands in for ``pool_pre_ping``, which costs three round trips per checkout
    with asyncpg (BEGIN, an empty statement, ROLLBACK), that is per unit of work. The
    driver notices a closed socket as soon as the server closes it (PostgreSQL stopped,
    restarted, or the backend ended), since the event loop reads every connection, so
    asking it is enough, and free. A connection that dies between this check and its
    use fails that one transaction, as it would after a ping.
    """
    driver_connection = getattr(dbapi_connection, "_connection", None)
    is_closed = getattr(driver_connection, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    # Looked up when called, not imported: with tracing on, shop.kit.tracing has
    # wrapped it so that the engine's statements are traced.
    engine = sqlalchemy_asyncio.create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        # A failing statement's error (and so its log line) names no bound value: they
        # carry password hashes, token digests and personal data.
        hide_parameters=True,
        connect_args={
            "server_settings": {
                "application_name": settings.service_name,
                "statement_timeout": str(settings.database_statement_timeout_ms),
            },
        },
    )
    event.listen(engine.sync_engine.pool, "checkout", _discard_closed)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def database_resource(settings: DatabaseSettings) -> Resource:
    """Opens the engine for the app's lifetime (``app.state.engine`` and ``.sessionmaker``);
    its pool is on ``/metrics`` (``db_pool_*``)."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        metrics: HttpMetrics = app.state.metrics
        limit = settings.database_pool_size + settings.database_max_overflow
        pool = DatabasePoolCollector(engine, settings.service_name, limit)

        async def select_one() -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        try:
            with metrics.collecting(pool):
                yield {"database": select_one}
        finally:
            await engine.dispose()

    return resource


AfterCommit = Callable[[], Awaitable[None]]
T = TypeVar("T")


def transaction_state(session: AsyncSession, key: str, new: Callable[[], T]) -> T:
    """What the session's current transaction has kept under ``key`` (what it changed,
    what it announced): made with ``new()`` the first time in each transaction, so a
    session that commits and goes on starts afresh."""
    transaction = session.sync_session.get_transaction()
    kept: tuple[Any, T] | None = session.info.get(key)
    if kept is None or kept[0] is not transaction:
        kept = (transaction, new())
        session.info[key] = kept
    return kept[1]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Runs ``callback`` once the request's transaction has committed, before the
    response is sent (cache invalidation, wake-ups); never if it rolls back."""
    session.info.setdefault("after_commit", []).append(callback)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction, committed in this one place when the block ends (rolled back
    if it raises), then the :func:`after_commit` callbacks run.

    Each request gets one (:data:`Session`). Work that spans services, such as an
    order's saga, commits a step, calls another service with no transaction open,
    then commits the next step: each step is a unit of work of its own.
    """
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        await run_after_commit(session)


async def read_only(session: AsyncSession) -> None:
    """The session's statements run outside a transaction (no ``BEGIN`` and ``COMMIT``:
    two round trips fewer), each reading its own snapshot as under READ COMMITTED, if
    it has begun none yet. For read-only statements that need no common snapshot."""
    if not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def run_after_commit(session: AsyncSession) -> None:
    """The :func:`after_commit` callbacks, for code that committed ``session`` itself."""
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        await callback()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


# "function" scope: the commit runs when the handler returns, before the response
# is sent, so a failed commit is the client's error response, never a lie.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
