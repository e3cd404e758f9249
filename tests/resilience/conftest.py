"""The resilience tests: the deep ones run only when asked for.

Tests marked ``resilience`` (the fault matrix, the API fuzzing) are slow: the
suite's root conftest skips them unless asked for (``make test-resilience``).
Tests here without the marker (the races, the fast faults) always run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The orders tests' fixtures, for the saga tests here (tests/resilience/test_saga.py).
from tests.orders.conftest import books, env, make_env, products_url, tokens  # noqa: F401
from tests.resilience.system import Shop, start_shop


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    """One `shop up` for the worker's resilience tests (group them with
    ``xdist_group("resilience")`` so that they share it). Its data lives outside
    pytest's temporary root, which every pytest run resets to mode 0700: PostgreSQL,
    running as another user under root, could no longer reach it."""
    root = Path(tempfile.mkdtemp(prefix="shop-resilience-"))
    try:
        running = start_shop(root)
        try:
            yield running
        finally:
            running.close()
            # The services' logs outlive the data, for a look after a failure.
            shutil.copy(
                running.running.log_path, Path(tempfile.gettempdir()) / "shop-resilience.log"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
