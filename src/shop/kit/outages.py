"""Telling a backing server's outage (PostgreSQL or Redis restarting, failing over) from
a bug, and riding one out.

:func:`unreachable` says whether an exception, or what caused it, means that the
database or Redis can't be reached right now. The request middleware answers such
an error 503 with ``Retry-After`` instead of 500. :func:`outlasting` runs a step
again until it gets through, for the few writes that must not be lost to a short
outage (an idempotency key's stored answer, for one).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.exceptions
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

log = structlog.get_logger("shop.outages")

T = TypeVar("T")

# Errors that say a backing server can't be reached right now, not that the code is wrong.
_UNREACHABLE = (
    redis.exceptions.ConnectionError,  # BusyLoadingError too: Redis is loading its data
    redis.exceptions.TimeoutError,
    ConnectionError,
)

# The database's, by module and name: looked up among the modules already loaded, never
# imported here, since a driver's error can only exist once its driver is loaded, and
# the gateway (whose every request runs this check) must not load database drivers.
_UNREACHABLE_DATABASE = {
    "sqlalchemy.exc": (
        "OperationalError",  # refused, shutting down, starting up
        "InterfaceError",  # the connection went away
    ),
    # What SQLAlchemy's generic DBAPIError wraps while PostgreSQL stops or starts.
    "asyncpg.exceptions": (
        "CannotConnectNowError",  # starting up, shutting down
        "AdminShutdownError",
        "CrashShutdownError",
        "PostgresConnectionError",  # SQLSTATE class 08
        "ConnectionDoesNotExistError",
    ),
}


def _loaded_types(module_name: str, names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
    module = sys.modules.get(module_name)
    if module is None:
        return ()
    return tuple(getattr(module, name) for name in names)


def _unreachable_types() -> tuple[type[BaseException], ...]:
    database = (_loaded_types(module, names) for module, names in _UNREACHABLE_DATABASE.items())
    return _UNREACHABLE + tuple(kind for types in database for kind in types)


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception that caused it) is a backing server's outage."""
    unreachable_types = _unreachable_types()
    dbapi_error = _loaded_types("sqlalchemy.exc", ("DBAPIError",))
    seen: BaseException | None = exc
    for _ in range(10):  # the exception, then what caused it
        if seen is None:
            return False
        if isinstance(seen, unreachable_types):
            return True
        if isinstance(seen, dbapi_error):  # sqlalchemy.exc.DBAPIError
            if getattr(seen, "connection_invalidated", False):
                return True
            wrapped = getattr(seen, "orig", None)  # the driver's error, unless the cause already
            if isinstance(wrapped, BaseException) and wrapped is not seen.__cause__:
                seen = wrapped
                continue
        seen = seen.__cause__ or seen.__context__
    return False


async def outlasting(step: Callable[[], Awaitable[T]], what: str, within: float = 30.0) -> T:
    """``step()``, run again while it fails with an outage, for up to ``within`` seconds
    (waits growing from 0.1 s to 2 s, with jitter). Any other error, or an outage that
    lasts longer, is raised."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(unreachable),
        stop=stop_after_delay(within),
        wait=wait_exponential_jitter(multiplier=0.1, max=2.0),
        before_sleep=lambda state: log.warning(
            "outage; trying again",
            step=what,
            error=type(state.outcome.exception()).__name__ if state.outcome else None,
        ),
        reraise=True,
    )
    # Iterated, not called: called with a lambda (not a coroutine function), tenacity
    # would return the lambda's coroutine instead of awaiting it.
    async for attempt in retrying:
        with attempt:
            return await step()
    raise AssertionError("not reached: tenacity re-raises the last error")
