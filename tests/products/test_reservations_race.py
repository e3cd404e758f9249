"""Reservations under concurrency: a real uvicorn server, many clients, little stock."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shop.products.app import create_app
from shop.products.models import ReservationStatus
from shop.products.reservations import reserve
from tests.products.reservation_support import (
    API,
    SERVICE,
    Books,
    books_for,
    reservations_settings,
)
from tests.support import Databases, served

# Every call of a race must be answered within this; a deadlock would take longer or 500.
RACE_SECONDS = 180.0  # a deadlock, not a slow machine
# A release racing its reserve: raced until each ordering won this often, within a bound.
RACES_EACH_WAY = 3
RACES_AT_MOST = 200


@pytest.fixture
async def books(databases: Databases, redis_url: str) -> AsyncIterator[Books]:
    async with books_for(databases, redis_url) as opened:
        yield opened


async def _bounded(calls: list[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    started = time.monotonic()
    responses = await asyncio.wait_for(asyncio.gather(*calls), RACE_SECONDS)
    assert time.monotonic() - started < RACE_SECONDS
    return list(responses)


def _body(lines: list[tuple[uuid.UUID, int]]) -> dict[str, Any]:
    return {"lines": [{"product_id": str(p), "quantity": q} for p, q in lines]}


async def test_forty_parallel_reservations_never_oversell_and_never_deadlock(
    databases: Databases, redis_url: str, tmp_path: Path, books: Books
) -> None:
    initial = [3, 4, 2, 5, 3, 1]
    products = [await books.product(units) for units in initial]
    stock = dict(zip(products, initial, strict=True))
    chooser = random.Random(20261125)  # noqa: S311 (a reproducible test)
    orders: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = {}
    for _ in range(40):
        picked = chooser.sample(products, chooser.randint(1, 3))  # in any order
        orders[uuid.uuid4()] = [(p, chooser.randint(1, 2)) for p in picked]
    # Two orders whose lines name the same two products in opposite orders, many times:
    # without a stable lock order, these are the ones that deadlock.
    a, b = products[0], products[1]
    for _ in range(5):
        orders[uuid.uuid4()] = [(a, 1), (b, 1)]
        orders[uuid.uuid4()] = [(b, 1), (a, 1)]

    settings = reservations_settings(
        databases, redis_url, tmp_path, database_pool_size=15, database_max_overflow=15
    )
    limits = httpx.Limits(max_connections=len(orders))
    with served(create_app(settings)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
            responses = await _bounded(
                [
                    client.put(f"{API}/{order_id}", json=_body(lines), headers=SERVICE)
                    for order_id, lines in orders.items()
                ]
            )

            answers = dict(zip(orders, responses, strict=True))
            statuses = Counter(r.status_code for r in responses)
            assert set(statuses) <= {201, 409}, statuses  # never a 500: no deadlock
            assert statuses[201] > 0
            assert statuses[409] > 0

            held: Counter[uuid.UUID] = Counter()
            for order_id, response in answers.items():
                requested = dict(orders[order_id])
                if response.status_code == 201:
                    body = response.json()
                    assert body["status"] == "held"
                    assert {uuid.UUID(x["product_id"]): x["quantity"] for x in body["lines"]} == (
                        requested
                    )
                    held.update(requested)
                else:
                    problem = response.json()
                    assert problem["type"].endswith("/insufficient-stock")
                    assert problem["errors"]
                    for short in problem["errors"]:
                        product_id = uuid.UUID(short["product_id"])
                        assert short["requested"] == requested[product_id]
                        assert 0 <= short["available"] < short["requested"]
                    assert await books.reservation(order_id) is None
                    assert await books.ledger(order_id=order_id) == []

            for product_id, units in stock.items():
                on_hand, reserved = await books.levels(product_id)
                assert on_hand == units
                assert reserved == held[product_id] <= units  # never oversold
            await books.assert_balanced(*products)
            assert await books.reservation_count() == statuses[201]

            # Round two, all at once: commit half of the holds, release the others,
            # replay the first reserves and try new ones.
            won = [order_id for order_id, r in answers.items() if r.status_code == 201]
            to_commit, to_release = won[::2], won[1::2]
            late_orders = {
                uuid.uuid4(): [(p, 1) for p in chooser.sample(products, chooser.randint(1, 3))]
                for _ in range(20)
            }
            calls: list[Awaitable[httpx.Response]] = [
                *(client.post(f"{API}/{o}/commit", headers=SERVICE) for o in to_commit),
                *(client.post(f"{API}/{o}/release", headers=SERVICE) for o in to_release),
                *(client.put(f"{API}/{o}", json=_body(orders[o]), headers=SERVICE) for o in won),
                *(
                    client.put(f"{API}/{o}", json=_body(lines), headers=SERVICE)
                    for o, lines in late_orders.items()
                ),
            ]
            second = await _bounded(calls)

    commits = second[: len(to_commit)]
    releases = second[len(to_commit) : len(won)]
    replays = second[len(won) : 2 * len(won)]
    late = second[2 * len(won) :]
    assert all(r.status_code == 200 for r in commits + releases), [r.text for r in second]
    # A replay answers the first reservation, or 409 once its release got there first.
    for order_id, replay in zip(won, replays, strict=True):
        if replay.status_code == 200:
            assert replay.json()["lines"] == answers[order_id].json()["lines"]
        else:
            assert order_id in to_release
            assert replay.json()["type"].endswith("/reservation-released")
    assert {r.status_code for r in late} <= {201, 409}

    committed: Counter[uuid.UUID] = Counter()
    for order_id in to_commit:
        committed.update(dict(orders[order_id]))
    late_held: Counter[uuid.UUID] = Counter()
    for (order_id, lines), response in zip(late_orders.items(), late, strict=True):
        if response.status_code == 201:
            late_held.update(dict(lines))
        else:
            assert await books.reservation(order_id) is None
    for product_id, units in stock.items():
        on_hand, reserved = await books.levels(product_id)
        assert on_hand == units - committed[product_id]
        assert reserved == late_held[product_id]
        held_now, committed_now = await books.held_and_committed(product_id)
        assert held_now + committed_now <= units
    await books.assert_balanced(*products)


async def test_parallel_reserves_of_one_order_make_one_reservation(
    databases: Databases, redis_url: str, tmp_path: Path, books: Books
) -> None:
    first = await books.product(5)
    second = await books.product(5)
    order_id = uuid.uuid4()
    body = _body([(first, 2), (second, 3)])
    settings = reservations_settings(databases, redis_url, tmp_path)
    with served(create_app(settings)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
            responses = await _bounded(
                [client.put(f"{API}/{order_id}", json=body, headers=SERVICE) for _ in range(10)]
            )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.content for r in responses}) == 1
    assert await books.reservation_count() == 1
    assert await books.levels(first) == (5, 2)
    assert await books.levels(second) == (5, 3)
    assert len(await books.ledger(order_id=order_id)) == 2
    await books.assert_balanced(first, second)


async def test_a_release_racing_its_reserve_never_leaks_stock(
    databases: Databases, redis_url: str, tmp_path: Path, books: Books
) -> None:
    """The orders reconciler releasing an order while its reserve is still in flight:
    whichever comes first, the order ends released and nothing stays held."""
    product = await books.product(50)
    settings = reservations_settings(databases, redis_url, tmp_path)
    outcomes: Counter[int] = Counter()  # 201: the reserve came first; 409: the release
    with served(create_app(settings)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
            for race in range(RACES_AT_MOST):
                if min(outcomes[201], outcomes[409]) >= RACES_EACH_WAY:
                    break
                order_id = uuid.uuid4()
                reserve = client.put(
                    f"{API}/{order_id}", json=_body([(product, 2)]), headers=SERVICE
                )
                release = client.post(f"{API}/{order_id}/release", headers=SERVICE)
                # Each sent first in turn, so that each wins some of the races.
                if race % 2:
                    released, reserved = await _bounded([release, reserve])
                else:
                    reserved, released = await _bounded([reserve, release])
                assert released.status_code == 200
                assert released.json()["status"] == "released"
                assert reserved.status_code in {201, 409}, reserved.text
                if reserved.status_code == 409:
                    assert reserved.json()["type"].endswith("/reservation-released")
                outcomes[reserved.status_code] += 1
                record = await books.reservation(order_id)
                assert record is not None
                assert record.status == ReservationStatus.RELEASED
                assert await books.levels(product) == (50, 0)
    print(f"release racing reserve: {dict(outcomes)}")
    # Both orderings happened (and left nothing held), however the races fell.
    assert min(outcomes[201], outcomes[409]) >= RACES_EACH_WAY, outcomes
    await books.assert_balanced(product)


@pytest.mark.parametrize("first_commits", [True, False])
async def test_a_second_reserve_of_the_same_order_waits_for_the_first(
    books: Books, first_commits: bool
) -> None:
    """Straight on two connections: the second waits on the order's key, then replays the
    first's reservation if it committed, or makes its own if it rolled back."""
    product = await books.product(4)
    order_id = uuid.uuid4()
    ttl = timedelta(minutes=5)
    async with books.sessionmaker() as one, books.sessionmaker() as two:
        await one.begin()
        made = await reserve(one, order_id, [(product, 3)], ttl=ttl, actor="one")
        assert made.created

        async def second() -> Any:
            async with two.begin():
                return await reserve(two, order_id, [(product, 3)], ttl=ttl, actor="two")

        waiting = asyncio.create_task(second())
        await books.wait_until_blocking(one)  # blocked on the order's key
        assert not waiting.done()
        if first_commits:
            await one.commit()
        else:
            await one.rollback()
        outcome = await asyncio.wait_for(waiting, 10)

    assert outcome.created is not first_commits
    if first_commits:
        assert outcome.reservation == made.reservation
    assert await books.reservation_count() == 1
    assert await books.levels(product) == (4, 3)
    [movement] = await books.ledger(order_id=order_id)
    assert movement.actor == ("one" if first_commits else "two")
    await books.assert_balanced(product)
