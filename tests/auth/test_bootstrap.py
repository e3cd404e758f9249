"""BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD: a verified admin made at start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pydantic
import pytest

from shop.auth.app import bootstrap_admin
from tests.auth.conftest import API, AuthFixture, SettingsFactory, bearer, running

ROOT = "root@example.com"
ROOT_PASSWORD = "an admin passphrase that is long"


async def test_the_bootstrap_admin_is_created_once(
    auth: AuthFixture, db: asyncpg.Connection, settings_for: SettingsFactory, tmp_path: Path
) -> None:
    settings = settings_for(
        tmp_path / "boot", bootstrap_admin_email=ROOT, bootstrap_admin_password=ROOT_PASSWORD
    )

    async with running(settings) as booted:
        row = await db.fetchrow("SELECT roles, email_verified, is_active FROM users")
        assert sorted(row["roles"]) == ["admin", "customer"]
        assert row["email_verified"] is True
        assert row["is_active"] is True
        pair = await booted.login(ROOT, ROOT_PASSWORD)
        users = await booted.client.get(f"{API}/users", headers=bearer(pair["access_token"]))
        assert users.status_code == 200
        assert [u["email"] for u in users.json()["items"]] == [ROOT]

    # A second start (or a second instance) finds the admin there and carries on.
    async with running(settings) as again, running(settings) as third:
        await again.login(ROOT, ROOT_PASSWORD)
        await third.login(ROOT, ROOT_PASSWORD)
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_the_bootstrap_never_takes_over_an_existing_account(
    auth: AuthFixture, db: asyncpg.Connection, settings_for: SettingsFactory, tmp_path: Path
) -> None:
    # Someone registered the address first: the bootstrap must not hand them admin rights,
    # nor replace their password with the configured one.
    await auth.register(ROOT, "the squatters own passphrase")
    settings = settings_for(
        tmp_path / "boot", bootstrap_admin_email=ROOT, bootstrap_admin_password=ROOT_PASSWORD
    )

    async with running(settings) as booted:
        assert await db.fetchval("SELECT roles FROM users") == ["customer"]
        assert (await booted.try_login(ROOT, ROOT_PASSWORD)).status_code == 401


def test_the_bootstrap_needs_both_settings(settings_for: SettingsFactory) -> None:
    with pytest.raises(pydantic.ValidationError, match="BOOTSTRAP_ADMIN_PASSWORD"):
        settings_for(bootstrap_admin_email=ROOT)
    with pytest.raises(pydantic.ValidationError, match="BOOTSTRAP_ADMIN_EMAIL"):
        settings_for(bootstrap_admin_password=ROOT_PASSWORD)


async def test_instances_starting_together_agree_on_one_admin(
    auth: AuthFixture, db: asyncpg.Connection, settings_for: SettingsFactory
) -> None:
    settings = settings_for(
        bootstrap_admin_email=ROOT,
        bootstrap_admin_password=ROOT_PASSWORD,
        bcrypt_rounds=10,  # a slower hash between the lookup and the insert: a sure race
    )

    # What each instance's start does, at the same moment: all find the admin absent.
    # (Once, the losers of the race failed on the unique email index and did not start.)
    await asyncio.gather(
        *(bootstrap_admin(auth.app.state.sessionmaker, settings) for _ in range(4))
    )

    assert await db.fetchval("SELECT count(*) FROM users") == 1
    await auth.login(ROOT, ROOT_PASSWORD)
