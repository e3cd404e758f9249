"""Forgotten, reset and changed passwords, and what they do to sessions."""

from __future__ import annotations

import re
import time

import asyncpg
import httpx

from tests.auth.conftest import API, PASSWORD, AuthFixture, bearer, outbox_count, problem

NEW_PASSWORD = "a brand new passphrase 42"
RESET_LINK = re.compile(r"https://shop\.example/reset-password\?token=[A-Za-z0-9_\-]+")


async def forgot(auth: AuthFixture, address: str) -> float:
    """Seconds the answer took."""
    started = time.monotonic()
    response = await auth.client.post(f"{API}/password/forgot", json={"email": address})
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.text
    assert response.content == b""
    return elapsed


async def reset(auth: AuthFixture, token: str, new_password: str = NEW_PASSWORD) -> httpx.Response:
    return await auth.client.post(
        f"{API}/password/reset", json={"token": token, "new_password": new_password}
    )


async def change(auth: AuthFixture, access_token: str, current: str, new: str) -> httpx.Response:
    return await auth.client.post(
        f"{API}/password/change",
        json={"current_password": current, "new_password": new},
        headers=bearer(access_token),
    )


async def test_forgot_answers_alike_and_no_faster_than_the_floor(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")

    assert await forgot(auth, "nobody@example.com") >= 0.25
    assert await forgot(auth, "ada@example.com") >= 0.25

    assert await outbox_count(db, "nobody@example.com") == 0
    assert await outbox_count(db, "ada@example.com") == 2  # verification, then reset
    [_, message] = await auth.mailbox.wait_for("ada@example.com", count=2)
    assert message["Subject"] == "Reset your password"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    link = RESET_LINK.search(text.get_content())
    assert link is not None
    assert link.group(0) in html.get_content()


async def test_an_inactive_account_gets_no_reset_link(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")
    await db.execute("UPDATE users SET is_active = false")

    await forgot(auth, "ada@example.com")

    assert await outbox_count(db, "ada@example.com") == 1


async def test_the_reset_link_works_once_and_ends_every_session(auth: AuthFixture) -> None:
    phone = await auth.verified_user("ada@example.com")
    laptop = await auth.login("ada@example.com")
    await forgot(auth, "ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com", count=2)

    assert (await reset(auth, token)).status_code == 204

    assert (await auth.try_login("ada@example.com", PASSWORD)).status_code == 401
    await auth.login("ada@example.com", NEW_PASSWORD)
    for pair in (phone, laptop):
        assert (await auth.me(pair["access_token"])).status_code == 401
        assert (await auth.refresh(pair["refresh_token"])).status_code == 401
    again = problem(await reset(auth, token, "yet another passphrase 7"), 400)
    assert again["type"].endswith("/invalid-link")
    await auth.login("ada@example.com", NEW_PASSWORD)


async def test_a_weak_new_password_leaves_the_link_usable(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    await forgot(auth, "ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com", count=2)

    for weak in ("short", "password1", "ada@example.com"):
        body = problem(await reset(auth, token, weak), 422)
        assert body["errors"]
        assert {e["field"] for e in body["errors"]} == {"new_password"}
    await auth.login("ada@example.com")  # unchanged

    # The refused request was rolled back, marking the token used with it.
    assert (await reset(auth, token)).status_code == 204
    await auth.login("ada@example.com", NEW_PASSWORD)


async def test_reset_tokens_expire_and_are_not_verification_tokens(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")
    verification = await auth.mailbox.link_token("ada@example.com")
    assert problem(await reset(auth, verification), 400)

    await forgot(auth, "ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com", count=2)
    await db.execute(
        "UPDATE one_time_tokens SET expires_at = now() - interval '1 second'"
        " WHERE purpose = 'reset_password'"
    )
    assert problem(await reset(auth, token), 400)
    assert problem(await reset(auth, "garbage"), 400)
    await auth.login("ada@example.com")


async def test_a_newer_reset_link_retires_the_older_one(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    await forgot(auth, "ada@example.com")
    old = await auth.mailbox.link_token("ada@example.com", count=2)
    await forgot(auth, "ada@example.com")
    new = await auth.mailbox.link_token("ada@example.com", count=3)

    assert problem(await reset(auth, old), 400)
    assert (await reset(auth, new)).status_code == 204


async def test_change_password_checks_the_current_one_and_the_policy(auth: AuthFixture) -> None:
    pair = await auth.verified_user("ada@example.com")

    wrong = problem(await change(auth, pair["access_token"], "not it at all", NEW_PASSWORD), 400)
    assert wrong["type"].endswith("/wrong-current-password")
    weak = problem(await change(auth, pair["access_token"], PASSWORD, "password1"), 422)
    assert weak["errors"] == [{"field": "new_password", "message": "is too common"}]
    anonymous = await auth.client.post(
        f"{API}/password/change",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert problem(anonymous, 401)

    await auth.login("ada@example.com", PASSWORD)  # nothing changed


async def test_change_password_keeps_this_session_and_ends_the_others(auth: AuthFixture) -> None:
    here = await auth.verified_user("ada@example.com")
    elsewhere = await auth.login("ada@example.com")

    response = await change(auth, here["access_token"], PASSWORD, NEW_PASSWORD)

    assert response.status_code == 204
    assert (await auth.me(elsewhere["access_token"])).status_code == 401
    assert (await auth.refresh(elsewhere["refresh_token"])).status_code == 401
    assert (await auth.me(here["access_token"])).status_code == 200
    renewed = await auth.refresh(here["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert (await auth.me(renewed.json()["access_token"])).status_code == 200
    assert (await auth.try_login("ada@example.com", PASSWORD)).status_code == 401
    await auth.login("ada@example.com", NEW_PASSWORD)


async def test_a_link_sent_before_deactivation_no_longer_resets(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")
    await forgot(auth, "ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com", count=2)
    stored = await db.fetchval("SELECT password_hash FROM users")
    await db.execute("UPDATE users SET is_active = false")

    assert problem(await reset(auth, token), 400)
    assert await db.fetchval("SELECT password_hash FROM users") == stored
