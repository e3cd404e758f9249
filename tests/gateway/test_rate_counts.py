"""Keys far from their budget are counted in the gateway process and sent to Redis in
batches; near it, and for small budgets, every hit is counted in Redis (a real one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from shop.gateway.config import GatewaySettings
from shop.gateway.rate_counts import LOCAL_MIN_BUDGET, KeyCounts, Unsent
from tests.gateway.services import assert_problem, gateway_client, gateway_settings
from tests.gateway.test_rate_limits import limits_redis

# Longer than any test here: the process sends its hits only when it stops.
NO_SYNC = 10.0


__all__ = ["limits_redis"]  # fixtures


@pytest.fixture
async def store(limits_redis: str) -> AsyncIterator[Redis]:
    """A client of this worker's own Redis database, empty: counts start from zero."""
    client = Redis.from_url(limits_redis)
    yield client
    await client.aclose()


def counting(services: dict[str, str], redis_url: str, budget: int) -> GatewaySettings:
    """A gateway with ``budget`` requests a minute, that sends its hits only when it stops."""
    return gateway_settings(
        services,
        redis_url=redis_url,
        rate_limit_default=f"{budget}/minute",
        rate_limit_sync_seconds=NO_SYNC,
    )


async def count_in_redis(store: Redis) -> int:
    [key] = await store.keys("gateway-rate*")
    return int(await store.get(key) or 0)


async def remaining(gateway: httpx.AsyncClient, requests: int) -> list[int]:
    answers = [await gateway.get("/api/v1/products") for _ in range(requests)]
    assert all(answer.status_code == 200 for answer in answers)
    return [int(answer.headers["ratelimit-remaining"]) for answer in answers]


async def test_far_from_the_budget_hits_are_counted_here_and_sent_when_the_process_stops(
    services: dict[str, str], limits_redis: str, store: Redis
) -> None:
    settings = counting(services, limits_redis, 200)
    async with gateway_client(settings) as gateway:
        counted_here = await remaining(gateway, 60)
        # The window's first hit went to Redis; the 59 others are this process's.
        in_redis_meanwhile = await count_in_redis(store)
    in_redis_after = await count_in_redis(store)
    async with gateway_client(settings) as another:
        # A new process learns the count from Redis on its first hit.
        [next_one] = await remaining(another, 1)

    assert counted_here == list(range(199, 139, -1))
    assert in_redis_meanwhile == 1
    assert in_redis_after == 60
    assert next_one == 139


async def test_past_half_the_budget_every_hit_is_counted_in_redis(
    services: dict[str, str], limits_redis: str, store: Redis
) -> None:
    budget = LOCAL_MIN_BUDGET
    settings = counting(services, limits_redis, budget)
    async with gateway_client(settings) as gateway:
        first_half = await remaining(gateway, budget // 2)
        after_first_half = await count_in_redis(store)
        [one_more] = await remaining(gateway, 1)
        after_one_more = await count_in_redis(store)
        rest = await remaining(gateway, budget - budget // 2 - 1)
        refused = await gateway.get("/api/v1/products")
        in_redis = await count_in_redis(store)

    assert [*first_half, one_more, *rest] == list(range(budget - 1, -1, -1))
    assert after_first_half == 1
    # With the hits not yet sent: the shared count is whole again.
    assert after_one_more == budget // 2 + 1
    assert_problem(refused, 429)
    assert in_redis == budget + 1


async def test_two_processes_overshoot_by_at_most_what_the_other_has_not_sent(
    services: dict[str, str], limits_redis: str, store: Redis
) -> None:
    budget = LOCAL_MIN_BUDGET
    settings = counting(services, limits_redis, budget)
    async with gateway_client(settings) as first, gateway_client(settings) as second:
        from_first = await remaining(first, budget // 2)  # 49 of them not sent
        from_second = []
        while (answer := await second.get("/api/v1/products")).status_code == 200:
            from_second.append(answer)
        # Past half its budget as far as the first knows: counted in Redis, with its unsent.
        refused = await first.get("/api/v1/products")

    served = len(from_first) + len(from_second)
    assert len(from_second) == budget - 1  # all but the first's one hit Redis knew of
    assert budget < served <= budget + budget // 2
    assert_problem(answer, 429)
    assert_problem(refused, 429)


async def test_the_sync_task_sends_the_hits_counted_here(
    services: dict[str, str], limits_redis: str, store: Redis
) -> None:
    settings = gateway_settings(
        services,
        redis_url=limits_redis,
        rate_limit_default="1000/minute",
        rate_limit_sync_seconds=0.1,
    )
    async with gateway_client(settings) as gateway:
        await remaining(gateway, 10)
        deadline = time.monotonic() + 5
        # The gateway's own task sends them: nothing here to wait on but Redis.
        while (in_redis := await count_in_redis(store)) < 10 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    assert in_redis == 10


def test_small_budgets_and_unknown_windows_are_counted_in_redis() -> None:
    counts = KeyCounts()
    now = time.time()
    assert counts.hit_here("never seen", 1000, now) is None
    counts.counted("small", 1, now + 60, 60, now)
    assert counts.hit_here("small", LOCAL_MIN_BUDGET - 1, now) is None
    counts.counted("ended", 1, now - 1, 60, now - 61)
    assert counts.hit_here("ended", 1000, now) is None
    counts.counted("large", 1, now + 60, 60, now)
    assert counts.hit_here("large", 1000, now) == (2, now + 60)
    assert counts.take_unsent("large", now) == 1
    assert counts.take_unsent("large", now) == 0


def test_hits_of_a_window_that_is_over_are_never_sent_nor_added_to_the_next() -> None:
    counts = KeyCounts()
    now = time.time()
    counts.counted("sent", 1, now + 60, 60, now)
    counts.counted("late", 1, now + 60, 60, now)
    for _ in range(3):
        counts.hit_here("sent", 1000, now)
    counts.hit_here("late", 1000, now)

    drained = sorted(counts.drain(now + 1), key=lambda unsent: unsent.key)
    assert drained == [Unsent("late", 1, 60), Unsent("sent", 3, 60)]
    assert counts.drain(now + 2) == []  # sent once

    # Counted here, then the window ends before they are sent: they are dropped.
    counts.hit_here("late", 1000, now + 2)
    counts.hit_here("sent", 1000, now + 2)
    over = now + 61
    assert counts.take_unsent("sent", over) == 0
    assert counts.drain(over) == []
