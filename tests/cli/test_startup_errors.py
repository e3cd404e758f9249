"""A start-up mistake is one sentence with the fix, never a traceback: a bad setting,
a port in use, a database its code's migrations do not match."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from shop.cli.config import CliSettings
from shop.cli.processes import free_port
from shop.cli.services import SERVICES
from shop.cli.startup_checks import migration_problem, settings_problem
from shop.kit import migrations
from shop.kit.service_auth import generate_service_token
from shop.products.config import ProductsSettings
from tests.kit.service_process import clean_environment, shop_serve
from tests.products.conftest import plain_url
from tests.support import Databases, with_database

UNREACHABLE = "postgresql://shop:pw@127.0.0.1:1/unused"


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    """The exit code and the lines of standard error (the sentence is the last)."""
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done.returncode, done.stderr.strip().splitlines()


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_bad_setting_is_named_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODUCTS_DATABASE_URL", raising=False)
    with pytest.raises(ValidationError) as bad_port:
        CliSettings(gateway_port="three thousand")  # type: ignore[arg-type]
    assert settings_problem(bad_port.value) == (
        "GATEWAY_PORT is invalid (Input should be a valid integer, unable to parse string as"
        " an integer). Set it in the environment or in .env."
    )
    with pytest.raises(ValidationError) as missing:
        ProductsSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings_problem(missing.value).startswith("PRODUCTS_DATABASE_URL is required")


def test_shop_up_with_a_bad_setting_says_which(tmp_path: Path) -> None:
    env = clean_environment(GATEWAY_PORT="three thousand", SHOP_DATA_DIR=str(tmp_path))
    code, lines = run([sys.executable, "-m", "shop", "up"], env, tmp_path)
    assert code == 2
    assert lines[-1:] == [
        "shop: GATEWAY_PORT is invalid (Input should be a valid integer, unable to parse"
        " string as an integer). Set it in the environment or in .env."
    ]
    assert not (tmp_path / "postgres").exists()  # nothing was started


def test_shop_up_names_the_port_in_use_and_the_fix(tmp_path: Path, listening: int) -> None:
    ports = {f"{name.upper()}_PORT": str(free_port()) for name in SERVICES}
    ports["GATEWAY_PORT"] = str(listening)
    env = clean_environment(**ports, SHOP_DATA_DIR=str(tmp_path))
    code, lines = run([sys.executable, "-m", "shop", "up"], env, tmp_path)
    assert code == 1
    assert lines[-1:] == [
        f"shop up: port {listening} on 127.0.0.1 (gateway) is in use: stop what listens there"
        " (is the shop already running?) or set GATEWAY_PORT to a free port."
    ]
    assert not (tmp_path / "postgres").exists()


def test_shop_serve_names_the_port_in_use_and_the_fix(tmp_path: Path, listening: int) -> None:
    env = clean_environment(
        PRODUCTS_DATABASE_URL=UNREACHABLE,
        SERVICE_TOKEN=generate_service_token(),
        PRODUCTS_PORT=str(listening),
    )
    code, lines = run(shop_serve("products"), env, tmp_path)
    assert code == 3
    assert lines[-1:] == [
        f"shop serve products: refusing to start, port {listening} on 127.0.0.1 (products) is"
        " in use: stop what listens there (is the shop already running?) or set PRODUCTS_PORT"
        " to a free port."
    ]


@pytest.fixture
def empty_database(databases: Databases, worker_id: str) -> Iterator[str]:
    """A database of its own, never migrated."""
    name = f"test_unmigrated_{worker_id}"

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(plain_url(databases.admin_url))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(databases.admin_url, name)
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_service_on_an_unmigrated_database_says_to_migrate(
    tmp_path: Path, empty_database: str
) -> None:
    env = clean_environment(
        PRODUCTS_DATABASE_URL=empty_database,
        SERVICE_TOKEN=generate_service_token(),
        PRODUCTS_PORT=str(free_port()),
    )
    code, lines = run(shop_serve("products"), env, tmp_path)
    assert code == 3
    assert lines[-1:] == [
        "shop serve products: refusing to start, the database at PRODUCTS_DATABASE_URL is not"
        " migrated for this code: run `shop migrate products` first."
    ]


def test_a_database_a_newer_version_migrated_is_told_apart(
    tmp_path: Path, empty_database: str
) -> None:
    """The previous release keeps starting on it (expand, then contract: a rollout or a
    rollback), but cannot migrate it."""
    migrations.upgrade(SERVICES["orders"].migrations, empty_database)

    async def stamp() -> None:  # as a newer version's migration would leave it
        connection = await asyncpg.connect(plain_url(empty_database))
        try:
            await connection.execute("UPDATE alembic_version SET version_num = 'f00dcafe1234'")
        finally:
            await connection.close()

    asyncio.run(stamp())
    with capture_logs() as logs:
        assert migration_problem(SERVICES["orders"], empty_database) is None
    assert [line["revisions"] for line in logs] == [["f00dcafe1234"]]

    env = clean_environment(ORDERS_DATABASE_URL=empty_database)
    code, lines = run([sys.executable, "-m", "shop", "migrate", "orders"], env, tmp_path)
    assert code == 2
    assert lines[-1].startswith("shop: cannot migrate the orders database (")
    assert lines[-1].endswith(
        "another version of the code migrated it; run that version, or start from an empty"
        " database (delete .data/ when the embedded PostgreSQL holds it)."
    )


def test_the_migration_check_passes_a_migrated_database_and_skips_an_unreachable_one(
    databases: Databases,
) -> None:
    assert migration_problem(SERVICES["products"], databases.urls["products"]) is None
    assert migration_problem(SERVICES["products"], UNREACHABLE) is None
