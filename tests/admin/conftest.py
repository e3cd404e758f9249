from collections.abc import Iterator

import pytest

from tests.e2e.system import RunningSystem, start_system

# Every test signs in and calls the API many times from one address: the gateway's
# per-client budgets are for the public, not for a test run.
GENEROUS_LIMITS = {"RATE_LIMIT_AUTH": "100000/minute", "RATE_LIMIT_DEFAULT": "100000/minute"}


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """`shop up` with the dashboard, shared by the dashboard's tests (each makes its
    own products, customers and orders)."""
    root = tmp_path_factory.mktemp("admin-system")
    running = start_system(root / "data", root / "shop-up.log", extra_env=GENEROUS_LIMITS)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()
