"""Refresh-token rotation, reuse detection, logout: a session ends everywhere at once."""

from __future__ import annotations

from typing import Any

import asyncpg
import jwt

from tests.auth.conftest import API, AuthFixture, bearer, problem, sha256_hex


def session_of(access_token: str) -> str:
    sid: str = jwt.decode(access_token, options={"verify_signature": False})["sid"]
    return sid


async def refreshed(auth: AuthFixture, refresh_token: str) -> dict[str, Any]:
    response = await auth.refresh(refresh_token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    pair: dict[str, Any] = response.json()
    return pair


async def refused(auth: AuthFixture, refresh_token: str) -> None:
    body = problem(await auth.refresh(refresh_token), 401)
    assert body["type"].endswith("/invalid-refresh-token")


async def session_dead(auth: AuthFixture, access_token: str) -> None:
    response = await auth.me(access_token)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_refresh_rotates_the_pair_within_the_session(auth: AuthFixture) -> None:
    first = await auth.verified_user("ada@example.com")

    second = await refreshed(auth, first["refresh_token"])

    assert second["token_type"] == "bearer"
    assert second["expires_in"] == 900
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert session_of(second["access_token"]) == session_of(first["access_token"])
    assert (await auth.me(second["access_token"])).json()["email"] == "ada@example.com"
    third = await refreshed(auth, second["refresh_token"])
    assert (await auth.me(third["access_token"])).status_code == 200


async def test_a_used_refresh_token_revokes_its_whole_family(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    stolen = await auth.login("ada@example.com")
    other_device = await auth.login("ada@example.com")
    newest = await refreshed(auth, stolen["refresh_token"])

    # The old token again: replayed by whoever copied it.
    await refused(auth, stolen["refresh_token"])

    await refused(auth, newest["refresh_token"])
    await session_dead(auth, newest["access_token"])
    await session_dead(auth, stolen["access_token"])
    # Another session of the same user is another family: untouched.
    assert (await auth.me(other_device["access_token"])).status_code == 200
    assert (await auth.refresh(other_device["refresh_token"])).status_code == 200


async def test_unknown_refresh_tokens_are_refused(auth: AuthFixture) -> None:
    pair = await auth.verified_user("ada@example.com")

    await refused(auth, "not-a-token")
    await refused(auth, sha256_hex(pair["refresh_token"]))  # the stored digest is no token
    await refused(auth, pair["refresh_token"][:-1])
    assert (await auth.refresh(pair["refresh_token"])).status_code == 200


async def test_logout_ends_the_session_at_once(auth: AuthFixture) -> None:
    pair = await auth.verified_user("ada@example.com")
    other = await auth.login("ada@example.com")

    response = await auth.client.post(f"{API}/logout", headers=bearer(pair["access_token"]))

    assert response.status_code == 204
    await session_dead(auth, pair["access_token"])
    await refused(auth, pair["refresh_token"])
    assert (await auth.me(other["access_token"])).status_code == 200


async def test_logout_with_a_refresh_token_also_ends_that_tokens_session(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")
    pair, older = await auth.login("ada@example.com"), await auth.login("ada@example.com")

    response = await auth.client.post(
        f"{API}/logout",
        headers=bearer(pair["access_token"]),
        json={"refresh_token": older["refresh_token"]},
    )

    assert response.status_code == 204
    await session_dead(auth, pair["access_token"])
    await session_dead(auth, older["access_token"])
    await refused(auth, older["refresh_token"])
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL") == 0


async def test_logout_needs_a_live_access_token(auth: AuthFixture) -> None:
    pair = await auth.verified_user("ada@example.com")

    response = await auth.client.post(f"{API}/logout", json={})
    assert problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert (await auth.me(pair["access_token"])).status_code == 200


async def test_an_expired_refresh_token_is_refused(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    pair = await auth.verified_user("ada@example.com")
    await db.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'"
        " WHERE token_digest = $1",
        sha256_hex(pair["refresh_token"]),
    )

    await refused(auth, pair["refresh_token"])


async def test_a_deactivated_user_cannot_refresh(auth: AuthFixture, db: asyncpg.Connection) -> None:
    pair = await auth.verified_user("ada@example.com")
    # Behind the service's back, so that the session is still alive in Redis.
    await db.execute("UPDATE users SET is_active = false")

    await refused(auth, pair["refresh_token"])
    # The attempt also ends the session that was still alive.
    await session_dead(auth, pair["access_token"])
    await db.execute("UPDATE users SET is_active = true")
    await refused(auth, pair["refresh_token"])


async def test_logout_never_ends_someone_elses_session(auth: AuthFixture) -> None:
    eve = await auth.verified_user("eve@example.com")
    await auth.register("ada@example.com")
    ada = await auth.login("ada@example.com")

    response = await auth.client.post(
        f"{API}/logout",
        headers=bearer(eve["access_token"]),
        json={"refresh_token": ada["refresh_token"]},
    )

    assert response.status_code == 204
    await session_dead(auth, eve["access_token"])
    assert (await auth.me(ada["access_token"])).status_code == 200
    assert (await auth.refresh(ada["refresh_token"])).status_code == 200
