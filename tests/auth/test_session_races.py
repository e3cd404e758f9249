"""Sessions cannot outlive a reset, a deactivation or a demotion, however the requests
interleave, and never outlive SESSION_MAX_AGE.

The races are forced, not hoped for: the test holds a real PostgreSQL lock that stops
one request at the worst moment (seen in ``pg_stat_activity``), sends the other into
that window, and only then lets the first go on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import jwt
import pytest
import redis.asyncio

from shop.kit.identity import session_key
from tests.auth.conftest import API, PASSWORD, AuthFixture, bearer, problem, sha256_hex

EMAIL = "ada@example.com"
NEW_PASSWORD = "a new and much longer passphrase"


@pytest.fixture
async def watcher(sql: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own that watches the others (one holding a lock would
    see a frozen ``pg_stat_activity``: it is read once per transaction)."""
    connection = await asyncpg.connect(sql)
    try:
        yield connection
    finally:
        await connection.close()


async def blocked_or_done(
    watcher: asyncpg.Connection, waiting: int, task: asyncio.Task[Any] | None = None
) -> bool:
    """Waits until ``waiting`` backends wait on a lock (True), or ``task`` finished
    without having to (False)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if task is not None and task.done():
            return False
        count = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        if count >= waiting:
            return True
        await asyncio.sleep(0.01)
    raise AssertionError(f"{waiting} requests did not all wait on a lock within 30 s")


def claims_of(access_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return claims


async def test_a_login_racing_a_password_reset_cannot_keep_its_session(
    auth: AuthFixture, db: asyncpg.Connection, watcher: asyncpg.Connection
) -> None:
    user = await auth.register(EMAIL)
    await auth.login(EMAIL)  # a refresh token row for the test to hold
    forgot = await auth.client.post(f"{API}/password/forgot", json={"email": EMAIL})
    assert forgot.status_code == 202
    reset_token = await auth.mailbox.link_token(EMAIL, count=2)

    async with db.transaction():
        await db.execute(
            "SELECT 1 FROM refresh_tokens WHERE user_id = $1 FOR UPDATE", uuid.UUID(user["id"])
        )
        # The reset has changed the password and ended every session it knows of; it
        # waits (holding the user row) to revoke the refresh tokens, then to commit.
        reset = asyncio.create_task(
            auth.client.post(
                f"{API}/password/reset",
                json={"token": reset_token, "new_password": NEW_PASSWORD},
            )
        )
        assert await blocked_or_done(watcher, 1, reset)
        # Meanwhile the old password, still the committed one.
        login = asyncio.create_task(auth.try_login(EMAIL, PASSWORD))
        # It waits for that change, or (unprotected) wins the race outright.
        await blocked_or_done(watcher, 2, login)
    reset_response, login_response = await asyncio.gather(reset, login)

    assert reset_response.status_code == 204, reset_response.text
    # The login waited for the reset and checked the new password.
    assert problem(login_response, 401)["type"].endswith("/invalid-credentials")
    assert (await auth.try_login(EMAIL, NEW_PASSWORD)).status_code == 200


@pytest.mark.parametrize("change", ["deactivate", "demote"])
async def test_a_login_racing_an_admin_change_gets_a_session_of_the_changed_user(
    auth: AuthFixture, db: asyncpg.Connection, watcher: asyncpg.Connection, change: str
) -> None:
    admin = await auth.admin("root@example.com")
    await auth.admin(EMAIL)  # an admin who is about to lose that role (or the account)
    [user_id] = [
        row["id"] for row in await db.fetch("SELECT id FROM users WHERE email = $1", EMAIL)
    ]
    body = {"is_active": False} if change == "deactivate" else {"roles": ["customer"]}

    async with db.transaction():
        await db.execute("SELECT 1 FROM refresh_tokens WHERE user_id = $1 FOR UPDATE", user_id)
        update = asyncio.create_task(
            auth.client.patch(
                f"{API}/users/{user_id}", json=body, headers=bearer(admin["access_token"])
            )
        )
        assert await blocked_or_done(watcher, 1, update)
        login = asyncio.create_task(auth.try_login(EMAIL, PASSWORD))
        # It waits for that change, or (unprotected) wins the race outright.
        await blocked_or_done(watcher, 2, login)
    update_response, login_response = await asyncio.gather(update, login)

    assert update_response.status_code == 200, update_response.text
    if change == "deactivate":
        assert problem(login_response, 401)["type"].endswith("/invalid-credentials")
        return
    # Logged in after the demotion: a live session, but without the admin role.
    assert login_response.status_code == 200, login_response.text
    access_token = login_response.json()["access_token"]
    assert claims_of(access_token)["roles"] == ["customer"]
    listing = await auth.client.get(f"{API}/users", headers=bearer(access_token))
    assert problem(listing, 403)


async def test_a_refresh_racing_a_logout_cannot_revive_the_session(
    auth: AuthFixture,
    db: asyncpg.Connection,
    watcher: asyncpg.Connection,
    sessions_redis: redis.asyncio.Redis,
) -> None:
    pair = await auth.verified_user(EMAIL)
    sid = claims_of(pair["access_token"])["sid"]

    async with db.transaction():
        # Stops the refresh once it has found its token, before it reads the user.
        await db.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        refresh = asyncio.create_task(auth.refresh(pair["refresh_token"]))
        assert await blocked_or_done(watcher, 1, refresh)
        logout = asyncio.create_task(
            auth.client.post(f"{API}/logout", headers=bearer(pair["access_token"]))
        )
        deadline = time.monotonic() + 30
        while await sessions_redis.exists(session_key(sid)):
            assert time.monotonic() < deadline, "the logout never ended the session"
            assert not logout.done(), logout.result().text
            await asyncio.sleep(0.01)
    refresh_response, logout_response = await asyncio.gather(refresh, logout)

    assert logout_response.status_code == 204, logout_response.text
    assert problem(refresh_response, 401)["type"].endswith("/invalid-refresh-token")
    assert not await sessions_redis.exists(session_key(sid))
    assert (await auth.me(pair["access_token"])).status_code == 401


async def test_refreshing_a_session_that_ended_in_redis_is_refused_and_stays_ended(
    auth: AuthFixture, sessions_redis: redis.asyncio.Redis
) -> None:
    pair = await auth.verified_user(EMAIL)
    sid = claims_of(pair["access_token"])["sid"]
    await sessions_redis.delete(session_key(sid))  # as when its key expired

    assert problem(await auth.refresh(pair["refresh_token"]), 401)
    assert not await sessions_redis.exists(session_key(sid))


async def test_refreshing_never_extends_a_session_past_its_max_age(
    auth: AuthFixture, db: asyncpg.Connection, sessions_redis: redis.asyncio.Redis
) -> None:
    max_age = auth.settings.session_max_age
    assert max_age == 30 * 24 * 3600  # the default
    pair = await auth.verified_user(EMAIL)
    sid = claims_of(pair["access_token"])["sid"]
    for _ in range(3):  # however often it is used
        response = await auth.refresh(pair["refresh_token"])
        assert response.status_code == 200, response.text
        pair = response.json()
    started = await db.fetch(
        "SELECT DISTINCT session_started_at FROM refresh_tokens WHERE session_id = $1",
        uuid.UUID(sid),
    )
    assert len(started) == 1  # carried along the rotation chain, never reset

    # A minute short of the max age: one more refresh, cut to that minute.
    await db.execute(
        "UPDATE refresh_tokens SET session_started_at = now() - make_interval(secs => $1)",
        float(max_age - 60),
    )
    response = await auth.refresh(pair["refresh_token"])
    assert response.status_code == 200, response.text
    pair = response.json()
    assert 0 < await sessions_redis.ttl(session_key(sid)) <= 60
    left = await db.fetchval(
        "SELECT extract(epoch FROM expires_at - now()) FROM refresh_tokens WHERE token_digest = $1",
        sha256_hex(pair["refresh_token"]),
    )
    assert 0 < left <= 61

    # Past it: refused, and the session (its access tokens too) ends.
    await db.execute(
        "UPDATE refresh_tokens SET session_started_at = now() - make_interval(secs => $1)",
        float(max_age + 1),
    )
    assert problem(await auth.refresh(pair["refresh_token"]), 401)
    assert (await auth.me(pair["access_token"])).status_code == 401
