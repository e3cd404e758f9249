"""Idempotency-Key on placing and cancelling orders."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import text

from tests.orders.conftest import EnvFactory
from tests.orders.support import API, OrdersEnv, order_body
from tests.products.reservation_support import problem


async def test_a_repeat_returns_the_first_answer_and_creates_nothing(env: OrdersEnv) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()

    first = await env.place(ada, (product, 2), key="order-1")
    again = await env.place(ada, (product, 2), key="order-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert await env.order_count() == 1
    assert await env.books.levels(product) == (8, 0)
    # Another user's identical key is another request altogether.
    eve = await env.tokens.user()
    assert (await env.place(eve, (product, 2), key="order-1")).json()["id"] != first.json()["id"]


async def test_eight_concurrent_repeats_make_one_order(
    make_env: EnvFactory, products_url: str
) -> None:
    # Deadlines that outlast the held stock row below, however busy the machine.
    async with make_env(
        products_url, products_read_timeout=60, products_deadline_seconds=60
    ) as env:
        product = await env.books.product(10)
        ada = await env.tokens.user()

        # The barrier: the product's stock row is locked, so the first placement to claim
        # the key waits inside products until the test lets it go; the repeats all
        # arrive while it is in progress.
        async with env.books.sessionmaker() as holding:
            await holding.begin()
            locked = "SELECT 1 FROM inventory WHERE product_id = :product FOR UPDATE"
            await holding.execute(text(locked), {"product": product})
            placing = [
                asyncio.create_task(env.place(ada, (product, 1), key="burst")) for _ in range(8)
            ]
            await env.books.wait_until_blocking(holding)
            deadline = time.monotonic() + 10  # within products' 15 s statement timeout
            while sum(task.done() for task in placing) < 7:
                assert time.monotonic() < deadline, "the repeats did not answer at once"
                await asyncio.sleep(0.02)
            await holding.rollback()
            answers = await asyncio.gather(*placing)

        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] + [409] * 7, [a.text for a in answers]
        created = {answer.json()["id"] for answer in answers if answer.status_code == 201}
        for answer in answers:
            if answer.status_code == 409:
                problem(answer, 409, "idempotency-key-in-progress")
        assert await env.order_count() == 1
        assert await env.books.levels(product) == (9, 0)
        # Once done, every repeat gets the order.
        assert (await env.place(ada, (product, 1), key="burst")).json()["id"] in created


async def test_the_same_key_with_another_body_is_422(env: OrdersEnv) -> None:
    product, other = await env.books.product(10), await env.books.product(10)
    ada = await env.tokens.user()
    assert (await env.place(ada, (product, 1), key="k")).status_code == 201

    problem(await env.place(ada, (product, 2), key="k"), 422, "idempotency-key-reused")
    problem(await env.place(ada, (other, 1), key="k"), 422, "idempotency-key-reused")
    # The key names a placement, not a cancel.
    order_id = (await env.client.get(API, headers=ada.headers)).json()["items"][0]["id"]
    problem(await env.cancel(ada, order_id, key="k"), 422, "idempotency-key-reused")
    assert await env.order_count() == 1


async def test_a_refusal_is_remembered_too(env: OrdersEnv) -> None:
    product = await env.books.product(1)
    ada = await env.tokens.user()
    first = problem(await env.place(ada, (product, 2), key="too-many"), 409, "insufficient-stock")
    await env.books.product(0)  # nothing else changes the answer ...
    again = problem(await env.place(ada, (product, 2), key="too-many"), 409, "insufficient-stock")
    assert again == first
    assert await env.order_count() == 1


async def test_a_cancel_with_a_key_is_answered_the_same_when_repeated(env: OrdersEnv) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    order = await env.placed(ada, (product, 3))

    first = await env.cancel(ada, order["id"], key="cancel-it")
    again = await env.cancel(ada, order["id"], key="cancel-it")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert await env.books.levels(product) == (10, 0)
    # Without the key, cancelling again is the illegal transition it is.
    problem(await env.cancel(ada, order["id"]), 409, "illegal-transition")


async def test_a_5xx_is_not_stored_so_the_client_can_retry(
    make_env: EnvFactory, dead_url: str
) -> None:
    async with make_env(dead_url) as env:
        product = uuid.uuid4()
        ada = await env.tokens.user()
        problem(await env.place(ada, (product, 1), key="retry-me"), 503, "catalog-unavailable")
        assert await env.db.fetchval("SELECT count(*) FROM idempotency_keys") == 0
        problem(await env.place(ada, (product, 1), key="retry-me"), 503, "catalog-unavailable")


async def test_expired_keys_count_as_absent_and_are_purged(env: OrdersEnv) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    first = await env.place(ada, (product, 1), key="old")
    await env.db.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")

    second = await env.place(ada, (product, 1), key="old")

    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    await env.db.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
    assert (await env.reconcile()).keys_purged == 1
    assert await env.db.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_keys_are_bounded(env: OrdersEnv) -> None:
    ada = await env.tokens.user()
    for key in ("x" * 256, "with space", "é".encode()):
        headers: dict[str, str | bytes] = {**ada.headers, "Idempotency-Key": key}
        body = order_body((uuid.uuid4(), 1))
        problem(await env.client.post(API, json=body, headers=headers), 422, "validation")
