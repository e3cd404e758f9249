"""The live tokens of verification and reset links are not kept in the outbox once sent."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg

from tests.auth.conftest import API, AuthFixture


async def settled_payloads(db: asyncpg.Connection, count: int) -> list[str]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = await db.fetch("SELECT payload::text AS payload, delivered_at FROM outbox")
        if len(rows) == count and all(row["delivered_at"] is not None for row in rows):
            return [row["payload"] for row in rows]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} outbox rows not delivered in time")


async def test_sent_links_leave_no_token_in_the_database(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")
    verification = await auth.mailbox.link_token("ada@example.com")
    response = await auth.client.post(f"{API}/password/forgot", json={"email": "ada@example.com"})
    assert response.status_code == 202, response.text
    reset = await auth.mailbox.link_token("ada@example.com", count=2)

    payloads = await settled_payloads(db, 2)

    # Who was sent what is kept a while; the text and html with the links are not.
    assert [sorted(json.loads(payload)) for payload in payloads] == [
        ["message_id", "subject", "to"],
        ["message_id", "subject", "to"],
    ]
    for token in (verification, reset):
        found = await db.fetchval(
            "SELECT count(*) FROM outbox WHERE strpos(payload::text, $1) > 0", token
        )
        assert found == 0
    # The links still work: the outbox only forgot what it sent.
    verified = await auth.client.post(f"{API}/verify-email", json={"token": verification})
    assert verified.status_code == 200, verified.text
