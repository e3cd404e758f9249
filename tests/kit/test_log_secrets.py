"""An exception's log line shows no local variables, whatever the format."""

from __future__ import annotations

import io
import logging

import pytest
import structlog

from shop.kit.config import LogFormat
from shop.kit.logging import configure_logging

SECRET = "hunter2-reset-token-77aa"


def login(password: str) -> None:
    raise ValueError("the database refused the login")


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_logged_traceback_shows_no_local_variable(log_format: LogFormat) -> None:
    configure_logging("log-test", log_format)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    try:
        try:
            login(SECRET)
        except ValueError:
            structlog.get_logger("probe").exception("login failed")
    finally:
        logging.getLogger().removeHandler(handler)
    logged = stream.getvalue()
    assert "the database refused the login" in logged
    assert "login failed" in logged
    assert SECRET not in logged
