"""Failed logins are limited per account from one client (5 per 15 minutes), per account
from all clients (20) and per client over all accounts (50)."""

from __future__ import annotations

import asyncio

import httpx

from tests.auth.conftest import PASSWORD, AuthFixture, problem

WRONG = "not the password at all"


def retry_after(response: httpx.Response) -> int:
    body = problem(response, 429)
    assert body["type"].endswith("/too-many-attempts")
    value = response.headers["retry-after"]
    assert value.isdigit(), value
    seconds = int(value)
    assert 0 < seconds <= 15 * 60
    return seconds


async def test_an_account_is_throttled_after_five_failures_from_one_client(
    auth: AuthFixture,
) -> None:
    await auth.register("ada@example.com")

    for n in range(5):
        response = await auth.try_login("ada@example.com", WRONG, ip="198.51.100.7")
        assert response.status_code == 401, n

    right = await auth.try_login("ada@example.com", PASSWORD, ip="198.51.100.7")
    retry_after(right)
    assert "access_token" not in right.text
    other = await auth.try_login("ADA@example.com", PASSWORD, ip="198.51.100.7")
    assert other.status_code == 429  # however the address is spelled


async def test_an_account_is_throttled_after_twenty_failures_from_any_clients(
    auth: AuthFixture,
) -> None:
    await auth.register("ada@example.com")

    # From twenty addresses, so that only the account's own count can stop the next.
    for n in range(20):
        response = await auth.try_login("ada@example.com", WRONG, ip=f"198.51.100.{n}")
        assert response.status_code == 401, n

    retry_after(await auth.try_login("ada@example.com", PASSWORD, ip="198.51.100.99"))


async def test_an_unknown_email_is_throttled_exactly_like_a_real_one(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")

    answers: dict[str, list[httpx.Response]] = {}
    for n, address in enumerate(("ada@example.com", "nobody@example.com")):
        answers[address] = [
            await auth.try_login(address, WRONG, ip=f"198.51.100.{n}") for _ in range(6)
        ]

    real, unknown = answers["ada@example.com"], answers["nobody@example.com"]
    assert [r.status_code for r in real] == [401] * 5 + [429]
    assert [r.status_code for r in unknown] == [401] * 5 + [429]
    assert [r.content for r in real] == [r.content for r in unknown]
    retry_after(real[-1])
    retry_after(unknown[-1])


async def test_a_client_ip_is_throttled_across_accounts_after_fifty_failures(
    auth: AuthFixture,
) -> None:
    await auth.register("victim@example.com")

    for n in range(50):
        response = await auth.try_login(f"guess{n}@example.com", WRONG, ip="203.0.113.7")
        assert response.status_code == 401, n

    # Another account, even with its right password, from the same address: refused.
    retry_after(await auth.try_login("victim@example.com", PASSWORD, ip="203.0.113.7"))
    # The account itself is not throttled: from another address it logs in.
    response = await auth.try_login("victim@example.com", PASSWORD, ip="203.0.113.8")
    assert response.status_code == 200, response.text


async def test_x_forwarded_for_names_the_client_only_through_a_trusted_proxy(
    auth: AuthFixture,
) -> None:
    for _ in range(5):
        response = await auth.try_login("guess@example.com", WRONG, ip="203.0.113.7")
        assert response.status_code == 401

    # A client that prepends an address of its own is still the nearest untrusted hop.
    spoofed = await auth.client.post(
        "/api/v1/auth/login",
        json={"email": "guess@example.com", "password": WRONG},
        headers={"x-forwarded-for": "192.0.2.1, 203.0.113.7"},
    )
    assert spoofed.status_code == 429


async def test_a_successful_login_clears_the_account_failures(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    for _ in range(4):
        assert (await auth.try_login("ada@example.com", WRONG, ip="10.1.0.1")).status_code == 401
    for n in range(15):
        assert (await auth.try_login("ada@example.com", WRONG, ip=f"10.2.0.{n}")).status_code == 401

    assert (await auth.try_login("ada@example.com", PASSWORD, ip="10.1.0.1")).status_code == 200

    # Five more from that client, twenty from all: without the reset the second of
    # these would be a 429 (its client's fifth failure, the account's twentieth).
    for n in range(5):
        response = await auth.try_login("ada@example.com", WRONG, ip="10.1.0.1")
        assert response.status_code == 401, n
    assert (await auth.try_login("ada@example.com", PASSWORD, ip="10.1.0.1")).status_code == 429


async def test_parallel_guesses_cannot_outrun_the_account_limit(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")

    # All sent at once, from as many addresses. Once, all 30 were answered: each checked
    # the count before any failure was recorded.
    answers = await asyncio.gather(
        *(auth.try_login("ada@example.com", WRONG, ip=f"198.51.100.{n}") for n in range(30))
    )

    statuses = [r.status_code for r in answers]
    assert statuses.count(401) == 20  # twenty admitted, all failed; the rest refused
    assert statuses.count(401) + statuses.count(429) == 30
    retry_after(await auth.try_login("ada@example.com", PASSWORD, ip="198.51.100.99"))


async def test_parallel_guesses_cannot_outrun_the_ip_limit(auth: AuthFixture) -> None:
    answers = await asyncio.gather(
        *(auth.try_login(f"guess{n}@example.com", WRONG, ip="203.0.113.7") for n in range(60))
    )

    statuses = [r.status_code for r in answers]
    assert statuses.count(401) == 50  # fifty admitted, all failed; the rest refused
    assert statuses.count(401) + statuses.count(429) == 60
    retry_after(await auth.try_login("guess99@example.com", WRONG, ip="203.0.113.7"))


async def test_attempts_under_way_leave_no_trace(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")

    # Many logins, each one finished: none of them may keep a slot taken.
    for n in range(12):
        assert (await auth.try_login("ada@example.com", ip="192.0.2.10")).status_code == 200, n
    redis = auth.app.state.redis
    assert await redis.keys("auth-login:in-flight:*") == []
