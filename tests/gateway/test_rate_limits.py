"""Rate limits per client IP and per user, counted in a real Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from redis.asyncio import Redis

from shop.cli.processes import free_port
from shop.gateway.config import GatewaySettings
from shop.gateway.rate_counts import KeyCounts
from tests.gateway.services import (
    assert_problem,
    gateway_client,
    gateway_from,
    gateway_settings,
)
from tests.kit.identity_support import JwksServer, SigningKey, claims, live_token, redis_client

PROXY = "10.0.0.1"
TRUSTED = "10.0.0.0/8"


@pytest.fixture
async def limits_redis(redis_url: str) -> AsyncIterator[str]:
    """This worker's own Redis database, empty: counts start from zero."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield redis_url
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[SigningKey, str]]:
    key = SigningKey.generate()
    server = JwksServer()
    server.publish(key)
    with server.running() as url:
        yield key, url


def forwarded_for(address: str) -> dict[str, str]:
    return {"x-forwarded-for": address}


async def test_over_the_limit_is_429_with_retry_after_and_ratelimit_headers(
    services: dict[str, str], limits_redis: str
) -> None:
    settings = gateway_settings(services, redis_url=limits_redis, rate_limit_default="3/minute")
    async with gateway_client(settings) as gateway:
        allowed = [await gateway.get("/api/v1/products") for _ in range(3)]
        refused = await gateway.get("/api/v1/orders")
        unlimited = [await gateway.get(path) for path in ("/health/live", "/metrics", "/docs")]

    assert [r.status_code for r in allowed] == [200] * 3
    assert [r.headers["ratelimit-limit"] for r in allowed] == ["3"] * 3
    assert [r.headers["ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert all(0 < int(r.headers["ratelimit-reset"]) <= 60 for r in allowed)

    body = assert_problem(refused, 429)
    assert body["type"].endswith("/rate-limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
    assert "service" not in body  # the service never saw it

    # Health, metrics and docs are never limited.
    assert [r.status_code for r in unlimited] == [200] * 3
    assert all("ratelimit-limit" not in r.headers for r in unlimited)


async def test_gateway_instances_share_one_window_and_its_end(
    services: dict[str, str], limits_redis: str
) -> None:
    """Two gateways on one Redis count into the same window; the second learns when the
    window the first opened ends from Redis, and counts on from there."""
    settings = gateway_settings(services, redis_url=limits_redis, rate_limit_default="4/minute")
    async with gateway_client(settings) as first, gateway_client(settings) as second:
        opened = await first.get("/api/v1/products")
        # Half a minute on: the window's key in Redis is aged, rather than waited for.
        store = Redis.from_url(limits_redis)
        [key] = await store.keys("gateway-rate*")
        assert await store.ttl(key) > 50
        await store.expire(key, 30)
        await store.aclose()
        joined = [await second.get("/api/v1/products") for _ in range(3)]
        refused = await first.get("/api/v1/products")

    assert opened.headers["ratelimit-remaining"] == "3"
    assert [r.headers["ratelimit-remaining"] for r in joined] == ["2", "1", "0"]
    # The first gateway opened a minute's window; the second learnt its end from Redis
    # (30 s away, not a minute of its own), and counts down to it: each header is
    # ceil(end - now), so a second may tick between two of them, never back.
    assert 50 <= int(opened.headers["ratelimit-reset"]) <= 60
    resets = [int(r.headers["ratelimit-reset"]) for r in joined]
    assert resets == sorted(resets, reverse=True)
    assert all(1 <= reset <= 30 for reset in resets), resets
    assert_problem(refused, 429)


def test_window_ends_stay_bounded_dropping_ended_windows_first() -> None:
    counts = KeyCounts(capacity=4)
    now = time.time()
    counts.counted("ended", 1, now - 1, 60, now)
    for n in range(3):
        counts.counted(f"live{n}", 1, now + 60, 60, now)
    assert counts.window_end("ended", now) is None  # a window that ended is not reported

    counts.counted("new", 1, now + 60, 60, now)  # full: the ended window makes room

    assert [counts.window_end(f"live{n}", now) for n in range(3)] == [now + 60] * 3
    assert counts.window_end("new", now) == now + 60
    counts.counted("one more", 1, now + 60, 60, now)  # full of live windows: the oldest half go
    assert counts.window_end("live0", now) is None
    assert counts.window_end("one more", now) == now + 60


async def test_clients_behind_a_trusted_proxy_are_counted_apart(
    services: dict[str, str], limits_redis: str
) -> None:
    settings = gateway_settings(
        services, redis_url=limits_redis, rate_limit_default="2/minute", trusted_proxies=TRUSTED
    )
    async with gateway_from(settings, PROXY) as gateway:
        first = [
            await gateway.get("/api/v1/products", headers=forwarded_for("203.0.113.1"))
            for _ in range(3)
        ]
        # A hop the client added itself is left of the one the proxy vouches for.
        spoofed = await gateway.get(
            "/api/v1/products", headers=forwarded_for("198.51.100.99, 203.0.113.1")
        )
        other = await gateway.get("/api/v1/products", headers=forwarded_for("203.0.113.2"))

    assert [r.status_code for r in first] == [200, 200, 429]
    assert_problem(spoofed, 429)
    assert other.status_code == 200
    assert other.headers["ratelimit-remaining"] == "1"


async def test_an_ipv6_client_is_counted_per_64_not_per_address(
    services: dict[str, str], limits_redis: str
) -> None:
    # Every address of its /64 is the client's to pick: spreading over them buys nothing.
    settings = gateway_settings(
        services, redis_url=limits_redis, rate_limit_default="2/minute", trusted_proxies=TRUSTED
    )
    async with gateway_from(settings, PROXY) as gateway:
        same_64 = [
            await gateway.get("/api/v1/products", headers=forwarded_for(address))
            for address in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:0:9")
        ]
        next_64 = await gateway.get("/api/v1/products", headers=forwarded_for("2001:db8:1:3::1"))

    assert [r.status_code for r in same_64] == [200, 200, 429]
    assert next_64.status_code == 200
    assert next_64.headers["ratelimit-remaining"] == "1"


async def test_an_untrusted_clients_forwarded_for_is_ignored(
    services: dict[str, str], limits_redis: str
) -> None:
    settings = gateway_settings(
        services, redis_url=limits_redis, rate_limit_default="2/minute", trusted_proxies=TRUSTED
    )
    async with gateway_from(settings, "198.51.100.7") as gateway:
        responses = [
            await gateway.get("/api/v1/products", headers=forwarded_for(f"203.0.113.{n}"))
            for n in range(3)
        ]
    # Three "different" clients, all the same peer: counted as one.
    assert [r.status_code for r in responses] == [200, 200, 429]


async def test_users_are_counted_apart_wherever_they_call_from(
    services: dict[str, str], limits_redis: str, jwks: tuple[SigningKey, str]
) -> None:
    key, jwks_url = jwks
    settings = gateway_settings(
        services,
        redis_url=limits_redis,
        jwks_url=jwks_url,
        rate_limit_default="2/minute",
        trusted_proxies=TRUSTED,
    )
    async with redis_client(limits_redis) as redis, gateway_from(settings, PROXY) as gateway:
        ada = {"authorization": f"Bearer {await live_token(redis, key)}"}
        bob = {"authorization": f"Bearer {await live_token(redis, key)}"}

        async def get(user: dict[str, str], address: str) -> httpx.Response:
            headers = user | forwarded_for(address)
            return await gateway.get("/api/v1/orders", headers=headers)

        ada_at_home = [await get(ada, "203.0.113.1") for _ in range(2)]
        # A fresh address does not renew Ada's budget, and Ada's use leaves Bob's alone.
        ada_at_work = await get(ada, "203.0.113.2")
        bob_at_work = await get(bob, "203.0.113.2")

    assert [r.status_code for r in ada_at_home] == [200, 200]
    assert_problem(ada_at_work, 429)
    assert bob_at_work.status_code == 200


async def test_the_auth_routes_have_a_stricter_budget(
    services: dict[str, str], limits_redis: str
) -> None:
    settings = gateway_settings(
        services,
        redis_url=limits_redis,
        rate_limit_default="5/minute",
        rate_limit_auth="2/minute",
    )
    async with gateway_client(settings) as gateway:
        logins = [await gateway.post("/api/v1/auth/login", json={}) for _ in range(3)]
        catalog = await gateway.get("/api/v1/products")

    assert [r.status_code for r in logins] == [200, 200, 429]
    assert logins[0].headers["ratelimit-limit"] == "2"
    assert logins[2].headers["ratelimit-limit"] == "2"
    # A budget of its own: the auth routes' use leaves the rest alone.
    assert catalog.status_code == 200
    assert catalog.headers["ratelimit-limit"] == "5"
    assert catalog.headers["ratelimit-remaining"] == "4"


async def test_without_redis_limits_fail_open_but_tokens_fail_closed(
    services: dict[str, str], jwks: tuple[SigningKey, str]
) -> None:
    key, jwks_url = jwks
    settings = gateway_settings(
        services,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        jwks_url=jwks_url,
        rate_limit_default="1/minute",
    )
    async with gateway_client(settings) as gateway:
        served = [await gateway.get("/api/v1/products") for _ in range(3)]
        token = key.sign(claims())
        with_token = await gateway.get(
            "/api/v1/orders", headers={"authorization": f"Bearer {token}"}
        )
        metrics = (await gateway.get("/metrics")).text

    assert [r.status_code for r in served] == [200] * 3
    assert all("ratelimit-limit" not in r.headers for r in served)
    # Whether the session is alive cannot be known: refused, never guessed.
    assert_problem(with_token, 503)
    errors = [
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "gateway_rate_limit_errors_total"
    ]
    assert len(errors) == 1
    assert errors[0] >= 4


@pytest.mark.parametrize("field", ["rate_limit_default", "rate_limit_auth"])
def test_limits_must_be_in_the_limits_notation(field: str) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(_env_file=None, **{field: "lots"})
    assert GatewaySettings(_env_file=None, **{field: "10 per second"})
