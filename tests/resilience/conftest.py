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

# The orders tests' fixtures, for the saga tests here (tests/resilience/test_saga.py),
# and localstripe (a Stripe stand-in of this directory's own) for the system's payments.
from tests.orders.conftest import (  # noqa: F401
    books,
    env,
    localstripe,
    make_env,
    products_url,
    tokens,
)
from tests.orders.stripe_support import LocalStripe
from tests.resilience.system import Shop, start_shop


@pytest.fixture(scope="session")
def shop(localstripe: LocalStripe) -> Iterator[Shop]:  # noqa: F811 (the fixture imported above)
    """One `shop up` for the worker's resilience tests (group them with
    ``xdist_group("resilience")`` so that they share it), taking payments manually
    and with Stripe (at ``localstripe``). Its data lives outside
    pytest's temporary root, which every pytest run resets to mode 0700: PostgreSQL,
    running as another user under root, could no longer reach it."""
    root = Path(tempfile.mkdtemp(prefix="shop-resilience-"))
    try:
        running = start_shop(root, localstripe)
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
