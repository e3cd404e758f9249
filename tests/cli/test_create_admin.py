"""`shop create-admin` creates a verified admin, or promotes an existing account."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shop.kit.config import to_async_database_url
from tests.support import Databases


def create_admin(
    databases: Databases, tmp_path: Path, email: str, password: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env |= {
        "AUTH_DATABASE_URL": databases.urls["auth"],
        "SHOP_DATA_DIR": str(tmp_path / "data"),
        "LOG_FORMAT": "json",
        "BCRYPT_ROUNDS": "4",
    }
    return subprocess.run(
        [sys.executable, "-m", "shop", "create-admin", email, "--password-stdin"],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def users(databases: Databases) -> AsyncIterator[asyncpg.Connection]:
    url = to_async_database_url(databases.urls["auth"]).replace("+asyncpg", "")
    connection = await asyncpg.connect(url)
    try:
        yield connection
    finally:
        await connection.execute("TRUNCATE users CASCADE")
        await connection.close()


async def test_creates_a_verified_admin(
    databases: Databases, tmp_path: Path, users: asyncpg.Connection
) -> None:
    result = create_admin(databases, tmp_path, "Boss@Example.com", "a strong enough secret")
    assert result.returncode == 0, result.stderr
    row = await users.fetchrow("SELECT email, roles, email_verified, password_hash FROM users")
    assert row["email"] == "Boss@example.com"  # the domain is normalised, the local part kept
    assert sorted(row["roles"]) == ["admin", "customer"]
    assert row["email_verified"] is True
    assert row["password_hash"].startswith("$2b$04$")
    # Only the auth database was needed: no embedded server was started for the others.
    assert not (tmp_path / "data" / "postgres").exists()


async def test_promotes_an_existing_customer(
    databases: Databases, tmp_path: Path, users: asyncpg.Connection
) -> None:
    await users.execute(
        "INSERT INTO users (id, email, full_name, password_hash, roles, email_verified,"
        " is_active) VALUES (gen_random_uuid(), 'cust@example.com', 'C', 'x', '{customer}',"
        " false, false)"
    )
    result = create_admin(databases, tmp_path, "cust@example.com", "a strong enough secret")
    assert result.returncode == 0, result.stderr
    row = await users.fetchrow("SELECT roles, email_verified, is_active FROM users")
    assert sorted(row["roles"]) == ["admin", "customer"]
    assert row["email_verified"] is True
    assert row["is_active"] is True


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("boss@example.com", "password", "too common"),
        ("not-an-email", "a strong enough secret", "@-sign"),
    ],
)
def test_refuses_bad_input(
    databases: Databases, tmp_path: Path, email: str, password: str, message: str
) -> None:
    result = create_admin(databases, tmp_path, email, password)
    assert result.returncode == 2
    assert message in result.stderr
