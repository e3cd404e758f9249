"""POST /register: the user it creates, the email it sends, what it refuses."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from tests.auth.conftest import (
    API,
    PASSWORD,
    AuthFixture,
    SettingsFactory,
    outbox_count,
    problem,
    running,
)

LINK = re.compile(r"https://shop\.example/verify-email\?token=([A-Za-z0-9_\-]+)")


def registration(email: str, password: str = PASSWORD, **extra: object) -> dict[str, object]:
    return {"email": email, "password": password, "full_name": "Ada Lovelace", **extra}


async def test_register_answers_the_new_customer_without_secrets(auth: AuthFixture) -> None:
    response = await auth.client.post(f"{API}/register", json=registration("ada@example.com"))

    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == {"id", "email", "full_name", "roles", "email_verified", "created_at"}
    uuid.UUID(user["id"])
    assert user["email"] == "ada@example.com"
    assert user["full_name"] == "Ada Lovelace"
    assert user["roles"] == ["customer"]
    assert user["email_verified"] is False
    assert datetime.fromisoformat(user["created_at"]).utcoffset() is not None
    assert "$2b$" not in response.text
    assert PASSWORD not in response.text


async def test_register_sends_a_verification_link_in_text_and_html(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")

    [message] = await auth.mailbox.wait_for("ada@example.com")
    assert str(message["From"]) == auth.settings.email_from
    assert message["Subject"] == "Confirm your email address"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    text_links = LINK.findall(text.get_content())
    html_links = LINK.findall(html.get_content())
    assert len(text_links) == 1
    assert html_links == text_links
    assert f'href="https://shop.example/verify-email?token={text_links[0]}"' in html.get_content()


async def test_the_same_email_in_another_case_is_taken(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("grace@example.com")
    await auth.mailbox.wait_for("grace@example.com")

    response = await auth.client.post(f"{API}/register", json=registration("GRACE@Example.COM"))

    body = problem(response, 409)
    assert body["type"].endswith("/email-taken")
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    # The refused registration was rolled back with its email: nothing new is queued or sent.
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1
    await asyncio.sleep(0.3)  # several polls of the outbox worker
    assert len(auth.mailbox.messages()) == 1


async def test_a_registration_race_creates_one_account_and_one_email(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    responses = await asyncio.gather(
        *(
            auth.client.post(f"{API}/register", json=registration(address))
            for address in ("race@example.com", "RACE@example.com", "Race@example.com")
        )
    )

    assert sorted(r.status_code for r in responses) == [201, 409, 409]
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt!x", "must be at least 8 characters"),
        ("a" * 100 + "b" * 29, "must be at most 128 characters"),
        ("password1", "is too common"),
        ("ada.lovelace@example.com", "must not be your email address"),
        ("ADA.Lovelace@example.com", "must not be your email address"),
    ],
    ids=["7-chars", "129-chars", "common", "the-email", "the-email-in-caps"],
)
async def test_weak_passwords_are_refused_with_reasons(
    auth: AuthFixture, db: asyncpg.Connection, password: str, message: str
) -> None:
    response = await auth.client.post(
        f"{API}/register", json=registration("ada.lovelace@example.com", password)
    )

    body = problem(response, 422)
    assert {"field": "password", "message": message} in body["errors"]
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    assert await outbox_count(db, "ada.lovelace@example.com") == 0


async def test_boundary_lengths_are_accepted(auth: AuthFixture) -> None:
    await auth.register("eight@example.com", "Zq8#vLw2")
    await auth.register("long@example.com", "Zq8#vLw2" * 16)  # 128 characters


@pytest.mark.parametrize("address", ["not-an-email", "ada@", "@example.com", "ada@exa mple.com"])
async def test_invalid_emails_are_refused(
    auth: AuthFixture, db: asyncpg.Connection, address: str
) -> None:
    response = await auth.client.post(f"{API}/register", json=registration(address))

    body = problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["email"]
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_nobody_registers_as_admin(auth: AuthFixture, db: asyncpg.Connection) -> None:
    for extra in ({"roles": ["admin"]}, {"is_active": True}, {"email_verified": True}):
        response = await auth.client.post(
            f"{API}/register", json=registration("mallory@example.com", **extra)
        )
        body = problem(response, 422)
        assert [e["field"] for e in body["errors"]] == list(extra)
    assert await db.fetchval("SELECT count(*) FROM users") == 0

    user = await auth.register("mallory@example.com")
    assert user["roles"] == ["customer"]
    assert await db.fetchval("SELECT roles FROM users") == ["customer"]


async def test_long_passwords_count_in_full(auth: AuthFixture) -> None:
    password = "correct-horse-battery-staple-" * 3 + "x" * 13
    assert len(password) == 100
    await auth.register("long@example.com", password)

    await auth.login("long@example.com", password)
    # bcrypt alone reads 72 bytes: these would log in if the tail were silently cut.
    for variant in (password[:72], password[:72] + "y" * 28, password[:99] + "y"):
        response = await auth.try_login("long@example.com", variant)
        assert response.status_code == 401, variant


async def test_the_stored_password_is_a_bcrypt_hash_of_the_configured_cost(
    auth: AuthFixture, db: asyncpg.Connection, settings_for: SettingsFactory, tmp_path: Path
) -> None:
    await auth.register("ada@example.com")
    stored = await db.fetchval("SELECT password_hash FROM users WHERE email = 'ada@example.com'")
    assert re.fullmatch(r"\$2b\$04\$[./A-Za-z0-9]{53}", stored), stored
    assert PASSWORD not in stored

    async with running(settings_for(tmp_path / "costly", bcrypt_rounds=6)) as costly:
        await costly.register("grace@example.com")
        await costly.login("grace@example.com")
    stored = await db.fetchval("SELECT password_hash FROM users WHERE email = 'grace@example.com'")
    assert stored.startswith("$2b$06$")
