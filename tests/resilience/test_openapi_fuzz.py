"""Schemathesis against every service's OpenAPI document, the services running for real.

Each operation of auth, products (its internal reservation API included), orders and
the gateway's merged document is called with the cases schemathesis derives from the
document: its examples, the coverage phase's boundary and invalid values, then
Hypothesis' fuzzing. Requests carry a real verified customer's token, an admin's for
the admin routes, and the service token on the internal API. Every answer must be
free of server errors and conform to the document: a documented status, a documented
content type, a body that matches the schema.

Two budgets. ``test_*_bounded`` run in plain ``pytest`` and ``make test``: a few
examples per operation and a fixed seed, so CI sees the same cases every time; the
gateway's bounded run (marked ``resilience`` too) leaves the coverage phase to the
services' own runs.
``test_*_deep`` (marker ``resilience``, ``make test-resilience``) run
``SHOP_FUZZ_EXAMPLES`` fuzzed cases per operation (default 200), with a random seed
unless ``SHOP_FUZZ_SEED`` fixes one.
"""

from __future__ import annotations

import os
import random
import re
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.resilience.fuzz_system import ADMIN, CUSTOMER, System, running_system
from tests.support import Databases

BOUNDED_EXAMPLES = 3
BOUNDED_SEED = 20260701
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Routes only an admin may call; the rest are called as the verified customer.
ADMIN_ROUTES = (
    ("*", "/api/v1/auth/users"),
    ("POST", "/api/v1/categories"),
    ("PATCH", "/api/v1/categories"),
    ("DELETE", "/api/v1/categories"),
    ("POST", "/api/v1/products"),
    ("PATCH", "/api/v1/products"),
    ("DELETE", "/api/v1/products"),
    ("GET", "/api/v1/products/{product_id}/inventory"),
    ("*", "/api/v1/orders/{order_id}/status"),
)
UUID_SHAPE = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")
# A request to these may end the session of the token it carries.
SESSION_ENDING = ("/logout", "/password/change", "/password/reset")


def _config(*, deep: bool, coverage: bool = True) -> SchemathesisConfig:
    if deep:
        examples = int(os.environ.get("SHOP_FUZZ_EXAMPLES", "200"))
        seed = int(os.environ.get("SHOP_FUZZ_SEED") or random.randrange(2**32))  # noqa: S311
    else:
        examples, seed = BOUNDED_EXAMPLES, BOUNDED_SEED
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {
                "mode": "all",
                "max-examples": examples,
                "deterministic": not deep,
                "database": "none",
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": coverage},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    )


def _is_admin_route(method: str, path: str) -> bool:
    return any(
        (wanted == "*" or wanted == method) and (path == prefix or path.startswith(prefix + "/"))
        for wanted, prefix in ADMIN_ROUTES
    )


def _aimed(value: Any, known: dict[str, str]) -> Any:
    """``value`` with every well-formed ID of a kind in ``known`` replaced by the real one:
    random IDs only ever find nothing, these reach the code behind the lookup."""
    if isinstance(value, dict):
        return {
            key: known[key]
            if key in known and isinstance(item, str) and UUID_SHAPE.fullmatch(item)
            else _aimed(item, known)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_aimed(item, known) for item in value]
    return value


def _call(case: Case, system: System, base_url: str) -> None:
    path = case.operation.path
    # Half the cases (chosen by their content, so a run repeats) aim at what exists.
    if zlib.crc32(repr((case.path_parameters, case.body)).encode()) % 2:
        case.path_parameters = _aimed(case.path_parameters, system.known)
        if isinstance(case.body, dict | list):
            case.body = _aimed(case.body, system.known)
    headers: dict[str, str] = {}
    if path.startswith("/internal/"):
        headers["X-Service-Token"] = system.service_token
    else:
        who = ADMIN if _is_admin_route(case.operation.method.upper(), path) else CUSTOMER
        headers["Authorization"] = f"Bearer {system.credentials.token(who)}"
    try:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)
    finally:
        if path.endswith(SESSION_ENDING):
            system.credentials.forget()
        if path.endswith("/users/{user_id}"):
            system.restore_customer()


@pytest.fixture(scope="module")
def system(
    databases: Databases, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    with running_system(databases, redis_url, tmp_path_factory.mktemp("fuzz")) as running:
        yield running


@pytest.fixture(autouse=True)
def _schemathesis_on_pytest_9(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4 reads ``node._nodeid``, which pytest 9 no longer sets."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def _schema(url: str, *, deep: bool, coverage: bool) -> Any:
    config = _config(deep=deep, coverage=coverage)
    return schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)


def _fixture(service: str, *, deep: bool) -> Any:
    @pytest.fixture(scope="module", name=f"{service}_{'deep' if deep else 'bounded'}")
    def schema(system: System) -> Any:
        # The gateway's document is the three services' operations again: its bounded
        # run skips the coverage phase (thousands of boundary cases the services' own
        # bounded runs already send) and keeps the examples and fuzzing through it.
        coverage = deep or service != "gateway"
        return _schema(getattr(system, service), deep=deep, coverage=coverage)

    return schema


auth_bounded = _fixture("auth", deep=False)
products_bounded = _fixture("products", deep=False)
orders_bounded = _fixture("orders", deep=False)
gateway_bounded = _fixture("gateway", deep=False)
auth_deep = _fixture("auth", deep=True)
products_deep = _fixture("products", deep=True)
orders_deep = _fixture("orders", deep=True)
gateway_deep = _fixture("gateway", deep=True)


def _tests(service: str) -> tuple[Any, Any]:
    bounded = schemathesis.pytest.from_fixture(f"{service}_bounded")
    deep = schemathesis.pytest.from_fixture(f"{service}_deep")

    @bounded.parametrize()
    def test_bounded(case: Case, system: System) -> None:
        _call(case, system, getattr(system, service))

    @pytest.mark.resilience
    @deep.parametrize()
    def test_deep(case: Case, system: System) -> None:
        _call(case, system, getattr(system, service))

    return test_bounded, test_deep


test_auth_bounded, test_auth_deep = _tests("auth")
test_products_bounded, test_products_deep = _tests("products")
test_orders_bounded, test_orders_deep = _tests("orders")
test_gateway_bounded, test_gateway_deep = _tests("gateway")
# The gateway's document is the services' operations again, which their bounded runs
# already fuzz: in `make test` that budget goes to them, the gateway's run to resilience.
test_gateway_bounded = pytest.mark.resilience(test_gateway_bounded)
