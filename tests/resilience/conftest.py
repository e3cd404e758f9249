"""The resilience tests: the deep ones run only when asked for.

Tests marked ``resilience`` (the fault matrix, the API fuzzing) are slow. Plain
``pytest`` and ``make test`` skip them; ``pytest -m resilience`` (what
``make test-resilience`` runs) or ``SHOP_RESILIENCE=1`` runs them. Tests here
without the marker (the races, the fast faults) always run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The orders tests' fixtures, for the saga tests here (tests/resilience/test_saga.py).
from tests.orders.conftest import books, env, make_env, products_url, tokens  # noqa: F401
from tests.resilience.system import Shop, start_shop


def _asked_for(config: pytest.Config) -> bool:
    if os.environ.get("SHOP_RESILIENCE", "") not in ("", "0"):
        return True
    expression = str(config.getoption("markexpr", "") or "")
    return "resilience" in expression and "not resilience" not in expression


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    skip = pytest.mark.skip(reason="slow resilience test: run make test-resilience")
    for item in items:
        if item.get_closest_marker("resilience") is not None:
            item.add_marker(skip)


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
