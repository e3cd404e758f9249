"""A failing statement's error, and so any log line that carries it, names no bound value."""

from __future__ import annotations

import traceback

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shop.kit.config import DatabaseSettings
from shop.kit.db import create_engine
from tests.support import Databases

SECRET = "reset-token-6f1d2c9a7b"


async def test_a_failing_statement_does_not_show_its_parameters(databases: Databases) -> None:
    settings = DatabaseSettings(database_url=databases.urls["orders"], service_name="probe")
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as raised:
                # Fails after binding: division by zero, whose message names no value.
                await connection.execute(
                    text("SELECT CAST(:token AS text), 1 / 0"), {"token": SECRET}
                )
    finally:
        await engine.dispose()

    message = str(raised.value)
    assert "division by zero" in message
    assert "parameters hidden" in message
    logged = "".join(traceback.format_exception(raised.value))
    assert SECRET not in logged
    with structlog.testing.capture_logs() as records:
        structlog.get_logger("probe").exception("statement failed", exc_info=raised.value)
    rendered = structlog.processors.format_exc_info(None, "error", dict(records[0]))
    assert SECRET not in str(rendered)
