"""Email verification links: single use, expiring, stored only as digests; resending."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.auth.conftest import API, AuthFixture, outbox_count, problem, sha256_hex


async def verify(auth: AuthFixture, token: str) -> int:
    response = await auth.client.post(f"{API}/verify-email", json={"token": token})
    if response.status_code != 200:
        problem(response, response.status_code)
    return response.status_code


async def test_the_emailed_token_verifies_the_address_once(auth: AuthFixture) -> None:
    user = await auth.register("ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com")

    response = await auth.client.post(f"{API}/verify-email", json={"token": token})

    assert response.status_code == 200, response.text
    assert response.json()["id"] == user["id"]
    assert response.json()["email_verified"] is True
    tokens = await auth.login("ada@example.com")
    assert (await auth.me(tokens["access_token"])).json()["email_verified"] is True

    second = await auth.client.post(f"{API}/verify-email", json={"token": token})
    body = problem(second, 400)
    assert body["type"].endswith("/invalid-link")


async def test_an_expired_token_is_refused(auth: AuthFixture, db: asyncpg.Connection) -> None:
    await auth.register("ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com")
    await db.execute("UPDATE one_time_tokens SET expires_at = now() - interval '1 second'")

    assert await verify(auth, token) == 400
    assert await db.fetchval("SELECT email_verified FROM users") is False


async def test_garbage_tokens_are_refused(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com")

    for garbage in ("nope", token[:-1], token + "x", sha256_hex(token)):
        assert await verify(auth, garbage) == 400, garbage
    assert await verify(auth, token) == 200


async def test_a_reset_token_does_not_verify(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    await auth.mailbox.wait_for("ada@example.com")
    await auth.client.post(f"{API}/password/forgot", json={"email": "ada@example.com"})
    reset_token = await auth.mailbox.link_token("ada@example.com", count=2)

    assert await verify(auth, reset_token) == 400


async def test_tokens_are_stored_as_sha256_digests(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com")

    rows = await db.fetch("SELECT purpose::text, token_digest FROM one_time_tokens")
    assert [tuple(row) for row in rows] == [("verify_email", sha256_hex(token))]
    dump = str(await db.fetch("SELECT * FROM one_time_tokens"))
    assert token not in dump


async def test_resend_answers_202_whatever_the_account(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.verified_user("verified@example.com")
    await auth.register("pending@example.com")
    await auth.mailbox.wait_for("pending@example.com")

    for address in ("nobody@example.com", "verified@example.com", "pending@example.com"):
        response = await auth.client.post(f"{API}/resend-verification", json={"email": address})
        assert response.status_code == 202, response.text
        assert response.content == b""

    # Queued in the request's transaction: only the unverified account got a new link.
    assert await outbox_count(db, "nobody@example.com") == 0
    assert await outbox_count(db, "verified@example.com") == 1
    assert await outbox_count(db, "pending@example.com") == 2
    await auth.mailbox.wait_for("pending@example.com", count=2)
    await asyncio.sleep(0.2)
    assert len(auth.mailbox.messages("verified@example.com")) == 1
    assert auth.mailbox.messages("nobody@example.com") == []


async def test_resend_is_case_insensitive_and_skips_inactive_accounts(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("pending@example.com")
    await auth.client.post(f"{API}/resend-verification", json={"email": "PENDING@Example.com"})
    assert await outbox_count(db, "pending@example.com") == 2

    await db.execute("UPDATE users SET is_active = false")
    await auth.client.post(f"{API}/resend-verification", json={"email": "pending@example.com"})
    assert await outbox_count(db, "pending@example.com") == 2


async def test_a_new_link_invalidates_the_old_one(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    old = await auth.mailbox.link_token("ada@example.com")
    response = await auth.client.post(
        f"{API}/resend-verification", json={"email": "ada@example.com"}
    )
    assert response.status_code == 202
    new = await auth.mailbox.link_token("ada@example.com", count=2)
    assert new != old

    assert await verify(auth, old) == 400
    assert await verify(auth, new) == 200


async def test_a_deactivated_account_cannot_use_its_link(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")
    token = await auth.mailbox.link_token("ada@example.com")
    await db.execute("UPDATE users SET is_active = false")

    assert await verify(auth, token) == 400
    await db.execute("UPDATE users SET is_active = true")
    assert await verify(auth, token) == 200  # the refusal did not use the token up
