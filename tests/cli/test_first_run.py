"""What `shop up` tells a newcomer: how to fill an empty shop and get into the
dashboard; and what `shop up --demo` (make demo) did with the demo catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop.cli.first_run import ShopContents, next_steps, seed_outcome
from shop.cli.seed import SeedResult

DASHBOARD = "http://127.0.0.1:3000/admin/"


@pytest.fixture
def runtime_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".data" / "runtime.env"


def test_an_empty_shop_is_told_how_to_seed_it_and_how_to_sign_in(runtime_env: Path) -> None:
    lines = next_steps(ShopContents(has_products=False, has_admin=False), DASHBOARD, runtime_env)
    assert lines == [
        "The catalog is empty. Load the demo catalog: stop (Ctrl-C) and run `make demo`,",
        "or, in another terminal while this runs:",
        "    set -a; . .data/runtime.env; set +a; .venv/bin/shop seed-demo",
        f"No admin can sign in to the dashboard ({DASHBOARD}) yet. Create one:",
        "    set -a; . .data/runtime.env; set +a; .venv/bin/shop create-admin EMAIL",
        "or start with BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD set.",
    ]


def test_a_shop_with_products_and_an_admin_is_told_nothing_more(runtime_env: Path) -> None:
    assert next_steps(ShopContents(has_products=True, has_admin=True), DASHBOARD, runtime_env) == []
    only_admin = next_steps(
        ShopContents(has_products=False, has_admin=True), DASHBOARD, runtime_env
    )
    assert only_admin[0].startswith("The catalog is empty.")
    assert not any("No admin" in line for line in only_admin)


def test_a_shop_that_could_not_be_looked_into_gets_no_hints(runtime_env: Path) -> None:
    assert next_steps(None, DASHBOARD, runtime_env) == []


def test_a_data_directory_elsewhere_is_named_in_full(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "runtime.env"
    lines = next_steps(ShopContents(has_products=False, has_admin=True), DASHBOARD, elsewhere)
    assert f"set -a; . {elsewhere}; set +a; .venv/bin/shop seed-demo" in lines[2]


def test_the_first_demo_run_loads_and_the_second_finds_it_there() -> None:
    first = SeedResult(38, 0, 1200, 0, 1200, 0)
    assert seed_outcome(first) == first.summary()
    interrupted_then_completed = SeedResult(0, 38, 700, 500, 1200, 0)
    assert seed_outcome(interrupted_then_completed).startswith("Created 0 categories, 700")
    second = SeedResult(0, 38, 0, 1200, 0, 1200)
    assert seed_outcome(second) == "all 1200 products were already there; nothing to load."
