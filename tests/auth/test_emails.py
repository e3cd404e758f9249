"""Emails go through the transactional outbox and are built from the settings."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from tests.auth.conftest import API, PASSWORD, AuthFixture, SettingsFactory, running


async def wait_delivered(db: asyncpg.Connection, count: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await db.fetchval("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL") == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} outbox rows not delivered within {within} s")


async def test_an_email_is_queued_with_the_change_then_delivered_once(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")

    row = await db.fetchrow("SELECT topic, payload FROM outbox")
    assert row["topic"] == "email"
    await wait_delivered(db, 1)
    [message] = auth.mailbox.messages("ada@example.com")
    assert str(message["From"]) == auth.settings.email_from == "Shop <no-reply@shop.example>"
    assert message["Message-ID"] == (await db.fetchval("SELECT payload->>'message_id' FROM outbox"))
    await asyncio.sleep(0.2)  # more polls: a delivered row is never sent again
    assert len(auth.mailbox.messages()) == 1


async def test_failed_requests_queue_no_email(auth: AuthFixture, db: asyncpg.Connection) -> None:
    await auth.register("ada@example.com")
    await wait_delivered(db, 1)

    refused = [
        await auth.client.post(
            f"{API}/register",
            json={"email": "ADA@example.com", "password": PASSWORD, "full_name": "Copy"},
        ),
        await auth.client.post(
            f"{API}/register",
            json={"email": "eve@example.com", "password": "password1", "full_name": "Eve"},
        ),
    ]

    assert [r.status_code for r in refused] == [409, 422]
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1
    await asyncio.sleep(0.2)
    assert len(auth.mailbox.messages()) == 1


async def test_the_name_is_escaped_in_the_html_part(auth: AuthFixture) -> None:
    response = await auth.client.post(
        f"{API}/register",
        json={"email": "eve@example.com", "password": PASSWORD, "full_name": "<b>Eve</b>"},
    )
    assert response.status_code == 201

    [message] = await auth.mailbox.wait_for("eve@example.com")
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html.get_content()
    assert "<b>Eve</b>" not in html.get_content()
    assert "Hello <b>Eve</b>," in text.get_content()


async def test_links_follow_the_public_base_url(
    auth: AuthFixture, settings_for: SettingsFactory, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path / "store", public_base_url="https://example.org/store/")

    async with running(settings) as store:
        await store.register("ada@example.com")
        [message] = await store.mailbox.wait_for("ada@example.com")

    text = message.get_body(("plain",))
    assert text is not None
    assert "https://example.org/store/verify-email?token=" in text.get_content()
    assert "store//" not in text.get_content()
