"""A backing server's outage is a 503 the client may retry, never a 500; and the writes
that must survive a short outage ride it out (shop.kit.outages)."""

from __future__ import annotations

import asyncpg.exceptions
import httpx
import pytest
import redis.exceptions
import sqlalchemy.exc
from starlette.types import Receive, Scope, Send

from shop.kit.middleware import RequestContextMiddleware
from shop.kit.outages import outlasting, unreachable


def _failing_with(error: Exception) -> RequestContextMiddleware:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise error

    return RequestContextMiddleware(app)


def _wrapped(driver_error: Exception) -> sqlalchemy.exc.DBAPIError:
    """As SQLAlchemy raises what asyncpg said: a generic DBAPIError caused by it."""
    try:
        try:
            raise driver_error
        except Exception as exc:
            raise sqlalchemy.exc.DBAPIError("SELECT 1", None, exc) from exc
    except sqlalchemy.exc.DBAPIError as translated:
        return translated


OUTAGES = {
    "redis restarted": redis.exceptions.ConnectionError("Connection closed by server."),
    "redis loading": redis.exceptions.BusyLoadingError("Redis is loading the dataset"),
    "postgres refused": sqlalchemy.exc.OperationalError("SELECT 1", None, OSError("refused")),
    "postgres shutting down": _wrapped(
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")
    ),
    "postgres terminated": _wrapped(asyncpg.exceptions.AdminShutdownError("terminating")),
    "connection refused": ConnectionRefusedError(111, "Connect call failed"),
}


@pytest.mark.parametrize("error", OUTAGES.values(), ids=OUTAGES.keys())
async def test_an_outage_is_503_with_retry_after(error: Exception) -> None:
    transport = httpx.ASGITransport(app=_failing_with(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        response = await client.get("/anything")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/backing-service-unavailable")
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        sqlalchemy.exc.IntegrityError("INSERT", None, ValueError("duplicate")),
        _wrapped(asyncpg.exceptions.QueryCanceledError("statement timeout")),
    ],
    ids=["bug", "integrity", "statement timeout"],
)
async def test_anything_else_is_still_500(error: Exception) -> None:
    assert not unreachable(error)
    transport = httpx.ASGITransport(app=_failing_with(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        response = await client.get("/anything")
    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred."


async def test_a_step_outlasts_a_short_outage_but_not_a_bug_or_a_long_one() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OUTAGES["postgres shutting down"]
        return "stored"

    # As the callers pass it: a lambda that makes the coroutine, not a coroutine function.
    assert await outlasting(lambda: flaky(), "store", within=5) == "stored"
    assert calls == 3

    async def buggy() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug")

    calls = 0
    with pytest.raises(ValueError, match="a bug"):
        await outlasting(buggy, "store", within=5)
    assert calls == 1  # never retried

    async def down() -> None:
        raise OUTAGES["redis restarted"]

    with pytest.raises(redis.exceptions.ConnectionError):
        await outlasting(down, "store", within=0.5)
