"""Admin routes: listing users page by page, setting roles and is_active."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import jwt

from shop.kit.pagination import encode_cursor
from tests.auth.conftest import API, AuthFixture, bearer, problem


async def page(auth: AuthFixture, token: str, **params: Any) -> httpx.Response:
    return await auth.client.get(f"{API}/users", params=params, headers=bearer(token))


async def update(auth: AuthFixture, token: str, user_id: str, **body: Any) -> httpx.Response:
    return await auth.client.patch(f"{API}/users/{user_id}", json=body, headers=bearer(token))


async def test_only_admins_list_users(auth: AuthFixture) -> None:
    customer = await auth.verified_user("ada@example.com")
    admin = await auth.admin()

    forbidden = await page(auth, customer["access_token"])
    assert problem(forbidden, 403)["type"].endswith("/forbidden")
    denied = await update(auth, customer["access_token"], str(uuid.uuid4()), is_active=False)
    assert problem(denied, 403)

    claims = jwt.decode(admin["access_token"], options={"verify_signature": False})
    assert sorted(claims["roles"]) == ["admin", "customer"]
    assert claims["email_verified"] is True
    assert (await page(auth, admin["access_token"])).status_code == 200


async def test_pages_walk_every_user_once_newest_first(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    for n in range(6):
        await auth.register(f"user{n}@example.com")
    admin = await auth.admin()

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        response = await page(
            auth, admin["access_token"], limit=3, **({"cursor": cursor} if cursor else {})
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert 1 <= len(body["items"]) <= 3
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3  # 7 users: 3 + 3 + 1
    expected = [
        str(r["id"])
        for r in await db.fetch("SELECT id FROM users ORDER BY created_at DESC, id DESC")
    ]
    assert [u["id"] for u in seen] == expected
    assert seen[0]["email"] == "admin@example.com"
    assert all(
        set(u) == {"id", "email", "full_name", "roles", "email_verified", "created_at", "is_active"}
        for u in seen
    )
    assert not any("password" in key for u in seen for key in u)

    exact = await page(auth, admin["access_token"], limit=7)
    assert len(exact.json()["items"]) == 7
    assert exact.json()["next_cursor"] is None
    default = await page(auth, admin["access_token"])
    assert len(default.json()["items"]) == 7


async def test_bad_cursors_and_limits_are_refused(auth: AuthFixture) -> None:
    admin = await auth.admin()

    some_id = str(uuid.uuid4())
    crafted = [
        ["9999-12-31T23:59:59-14:00", some_id],  # past year 9999 in UTC: once a 500
        ["0001-01-01T00:00:00+14:00", some_id],  # before year 1 in UTC: once a 500
        ["2024-01-01T00:00:00", some_id],  # no time zone: never one of ours
        ["2024-01-01T00:00:00+00:00", "not-a-uuid"],
        ["2024-01-01T00:00:00+00:00"],
    ]
    for cursor in ("garbage!", "bm90IGpzb24", "W10", *(encode_cursor(c) for c in crafted)):
        body = problem(await page(auth, admin["access_token"], cursor=cursor), 400)
        assert body["type"].endswith("/invalid-cursor"), cursor
    for limit in (0, 101, "x"):
        assert problem(await page(auth, admin["access_token"], limit=limit), 422)


async def test_an_admin_sets_roles_and_ends_the_users_sessions(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    user = await auth.verified_user("ada@example.com")
    user_id = await db.fetchval("SELECT id::text FROM users WHERE email = 'ada@example.com'")
    admin = await auth.admin()

    response = await update(auth, admin["access_token"], user_id, roles=["customer", "admin"])

    assert response.status_code == 200, response.text
    assert sorted(response.json()["roles"]) == ["admin", "customer"]
    assert response.json()["is_active"] is True
    # The old token still says "customer": it must not outlive the change.
    assert (await auth.me(user["access_token"])).status_code == 401
    assert (await auth.refresh(user["refresh_token"])).status_code == 401
    promoted = await auth.login("ada@example.com")
    assert (await page(auth, promoted["access_token"])).status_code == 200

    demoted = await update(auth, admin["access_token"], user_id, roles=["customer"])
    assert demoted.json()["roles"] == ["customer"]
    assert problem(await page(auth, promoted["access_token"]), 401)


async def test_an_admin_deactivates_and_reactivates_a_user(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    user = await auth.verified_user("ada@example.com")
    user_id = await db.fetchval("SELECT id::text FROM users WHERE email = 'ada@example.com'")
    admin = await auth.admin()

    response = await update(auth, admin["access_token"], user_id, is_active=False)

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert (await auth.me(user["access_token"])).status_code == 401
    assert (await auth.refresh(user["refresh_token"])).status_code == 401
    assert (await auth.try_login("ada@example.com")).status_code == 401

    await update(auth, admin["access_token"], user_id, is_active=True)
    await auth.login("ada@example.com")


async def test_an_unchanged_update_keeps_sessions(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    user = await auth.verified_user("ada@example.com")
    user_id = await db.fetchval("SELECT id::text FROM users WHERE email = 'ada@example.com'")
    admin = await auth.admin()

    response = await update(
        auth, admin["access_token"], user_id, roles=["customer"], is_active=True
    )

    assert response.status_code == 200
    assert (await auth.me(user["access_token"])).status_code == 200


async def test_an_admin_reads_one_user_and_no_one_else_may(auth: AuthFixture) -> None:
    customer = await auth.verified_user("ada@example.com")
    admin = await auth.admin()
    customer_id = (await auth.me(customer["access_token"])).json()["id"]
    url = f"{API}/users/{customer_id}"

    read = await auth.client.get(url, headers=bearer(admin["access_token"]))
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["id"] == customer_id
    assert body["email"] == "ada@example.com"
    assert body["roles"] == ["customer"]
    assert body["is_active"] is True

    assert problem(await auth.client.get(url, headers=bearer(customer["access_token"])), 403)
    assert problem(await auth.client.get(url), 401)
    unknown = f"{API}/users/{uuid.uuid4()}"
    assert problem(await auth.client.get(unknown, headers=bearer(admin["access_token"])), 404)
    bad = f"{API}/users/not-a-uuid"
    assert problem(await auth.client.get(bad, headers=bearer(admin["access_token"])), 422)


async def test_updates_of_unknown_users_and_bad_bodies(auth: AuthFixture) -> None:
    admin = await auth.admin()
    token = admin["access_token"]

    assert problem(await update(auth, token, str(uuid.uuid4()), is_active=False), 404)
    assert problem(await update(auth, token, "not-a-uuid", is_active=False), 422)
    me_id = (await auth.me(token)).json()["id"]
    bad_bodies: list[dict[str, Any]] = [
        {"roles": ["root"]},
        {"roles": []},
        {"roles": ["admin", "customer", "admin"]},
        {"is_active": "maybe"},
        {"email": "x@example.com"},
    ]
    for body in bad_bodies:
        assert problem(await update(auth, token, me_id, **body), 422), body


async def test_an_admin_cannot_lock_themselves_out(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    admin = await auth.admin()
    me_id = (await auth.me(admin["access_token"])).json()["id"]

    lockouts: list[dict[str, Any]] = [{"is_active": False}, {"roles": ["customer"]}]
    for body in lockouts:
        body_out = problem(await update(auth, admin["access_token"], me_id, **body), 409)
        assert body_out["type"].endswith("/self-lockout")

    row = await db.fetchrow("SELECT roles, is_active FROM users")
    assert "admin" in row["roles"]
    assert row["is_active"] is True
    assert (await auth.me(admin["access_token"])).status_code == 200


async def test_making_an_existing_customer_admin_keeps_their_password(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    # As `shop create-admin` does for an address that already has an account.
    customer = await auth.register("ada@example.com")
    await db.execute("UPDATE users SET is_active = false")

    pair = await auth.admin("ada@example.com")

    row = await db.fetchrow("SELECT id::text, roles, email_verified, is_active FROM users")
    assert row["id"] == customer["id"]
    assert sorted(row["roles"]) == ["admin", "customer"]
    assert row["email_verified"] is True
    assert row["is_active"] is True
    assert (await page(auth, pair["access_token"])).status_code == 200
