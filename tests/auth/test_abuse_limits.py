"""Abuse limits that do not lock out the innocent: one person mistyping behind a shared
address leaves the others alone, an IPv6 client is one /64, and anonymous requests
cannot make the shop flood an inbox (while answering exactly as before)."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from shop.auth.config import AuthSettings
from tests.auth.conftest import (
    API,
    PASSWORD,
    AuthFixture,
    SettingsFactory,
    outbox_count,
    problem,
    running,
)

WRONG = "not the password at all"
OFFICE = "203.0.113.7"  # one NAT address for a whole office


async def test_one_person_mistyping_behind_a_shared_address_locks_out_only_themselves(
    auth: AuthFixture,
) -> None:
    colleagues = [f"colleague{n}@example.com" for n in range(10)]
    for address in ["ada@example.com", *colleagues]:
        await auth.register(address)

    for _ in range(5):
        assert (await auth.try_login("ada@example.com", WRONG, ip=OFFICE)).status_code == 401
    problem(await auth.try_login("ada@example.com", PASSWORD, ip=OFFICE), 429)

    # The rest of the office signs in (and mistypes once or twice) as usual.
    for address in colleagues:
        assert (await auth.try_login(address, WRONG, ip=OFFICE)).status_code == 401
        assert (await auth.try_login(address, PASSWORD, ip=OFFICE)).status_code == 200
    # And Ada herself, from home.
    assert (await auth.try_login("ada@example.com", PASSWORD, ip="198.51.100.1")).status_code == 200


async def test_an_ipv6_client_is_one_64_for_failed_logins(
    auth: AuthFixture, settings_for: SettingsFactory
) -> None:
    settings = settings_for(login_failure_limit_ip="5/15minutes")
    async with running(settings) as small:
        # Five accounts, each from another address of one /64.
        for n in range(5):
            response = await small.try_login(
                f"guess{n}@example.com", WRONG, ip=f"2001:db8:1:2::{n + 1:x}"
            )
            assert response.status_code == 401, n

        same_64 = await small.try_login("guess9@example.com", WRONG, ip="2001:db8:1:2:ffff::1")
        next_64 = await small.try_login("guess9@example.com", WRONG, ip="2001:db8:1:3::1")

    problem(same_64, 429)
    assert next_64.status_code == 401


async def test_anonymous_requests_mail_an_address_at_most_once_a_minute(
    auth: AuthFixture, settings_for: SettingsFactory, db: asyncpg.Connection
) -> None:
    default = AuthSettings.model_fields["email_recipient_limit"].default
    assert default == "1/minute;5/hour"
    settings = settings_for(email_recipient_limit=default)
    async with running(settings) as service:
        await service.register("ada@example.com")  # the verification mail
        answers = [
            await service.client.post(f"{API}/{path}", json={"email": address})
            for path in ("password/forgot", "resend-verification", "password/forgot")
            for address in ("ada@example.com", "nobody@example.com")
        ]
        # Another address has its own allowance.
        await service.register("grace@example.com")

    # Each answered as the contract says, alike for a real and an unknown address.
    assert [r.status_code for r in answers] == [202] * 6
    assert {r.content for r in answers} == {b""}
    assert await outbox_count(db, "ada@example.com") == 1
    assert await outbox_count(db, "grace@example.com") == 1
    assert await outbox_count(db, "nobody@example.com") == 0


async def test_anonymous_requests_mail_an_address_at_most_five_times_an_hour(
    auth: AuthFixture, settings_for: SettingsFactory, db: asyncpg.Connection
) -> None:
    settings = settings_for(email_recipient_limit="1000/minute;5/hour")
    async with running(settings) as service:
        await service.register("ada@example.com")

        async def forgot() -> httpx.Response:
            return await service.client.post(
                f"{API}/password/forgot", json={"email": "ada@example.com"}
            )

        # All at once: the allowance is taken atomically, never overdrawn.
        answers = await asyncio.gather(*(forgot() for _ in range(10)))

    assert [r.status_code for r in answers] == [202] * 10
    assert await outbox_count(db, "ada@example.com") == 5  # the verification and four links


async def test_register_still_answers_409_for_a_taken_email(auth: AuthFixture) -> None:
    # A deliberate trade-off (docs/reliability.md, Security): people mistype their
    # address at sign-up far more often than anyone probes for accounts this way.
    await auth.register("ada@example.com")
    response = await auth.client.post(
        f"{API}/register",
        json={"email": "ADA@example.com", "password": PASSWORD, "full_name": "Ada"},
    )
    assert problem(response, 409)["type"].endswith("/email-taken")
