"""Races through the gateway of the real system (`shop up`), each followed by the books
check: many buyers for little stock, cancels racing ships, one key from many clients."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.resilience.system import Shop, public_client, settle

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("resilience")]

BUYERS = 50
UNITS = 5
RETRY_FOR = 120.0  # seconds a buyer retries a 503 with the same key


def _client() -> httpx.AsyncClient:
    return public_client(connections=100, timeout=60)


async def test_fifty_buyers_racing_for_five_units_through_the_gateway(shop: Shop) -> None:
    async with _client() as client:
        product = await shop.product(client, UNITS)
        buyers = await shop.customers(client, BUYERS)
        body = shop.order_body(product)

        async def buy(number: int, headers: dict[str, str]) -> httpx.Response:
            keyed = {**headers, "Idempotency-Key": f"race-{product}-{number}"}
            # As a client is told to: a 503 (on a loaded machine, the catalog's answer
            # came after the placement's deadline) placed nothing; the same key again.
            deadline = time.monotonic() + RETRY_FOR
            while True:
                answer = await client.post(shop.api + "/orders", json=body, headers=keyed)
                if answer.status_code != 503 or time.monotonic() > deadline:
                    return answer
                assert answer.json()["type"].endswith("/catalog-unavailable"), answer.text

        answers = await asyncio.gather(*[buy(n, h) for n, h in enumerate(buyers)])

    statuses = [answer.status_code for answer in answers]
    assert sorted(set(statuses)) == [201, 409], [a.text for a in answers if a.status_code >= 500]
    assert statuses.count(201) == UNITS
    for answer in answers:
        if answer.status_code == 409:
            [error] = answer.json()["errors"]
            assert error.pop("variant_id")  # the product's only (default) variant
            assert error == {"product_id": product, "requested": 1, "available": 0}
    winners = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    books = await settle(shop, {product: UNITS}, winners)
    assert books.sold == {product: UNITS}
    assert books.placed == winners  # every winner exactly once, and nobody else
    assert sorted(books.orders.values()).count("confirmed") == UNITS


async def test_cancels_racing_ships_have_one_winner_per_order(shop: Shop) -> None:
    """For each order the customer cancels while an admin ships it and cancels it too:
    exactly one of the three moves wins, and only cancels give the stock back."""
    orders = 8
    async with _client() as client:
        product = await shop.product(client, orders)
        customers = await shop.customers(client, orders)
        placed: list[tuple[str, dict[str, str]]] = []
        for headers in customers:
            answer = await client.post(
                shop.api + "/orders", json=shop.order_body(product), headers=headers
            )
            assert answer.status_code == 201, answer.text
            placed.append((answer.json()["id"], headers))

        async def race(order_id: str, customer: dict[str, str]) -> list[httpx.Response]:
            url = f"{shop.api}/orders/{order_id}"
            ship = {"status": "shipped", "tracking_number": f"TRACK-{order_id[:8]}"}
            moves: list[Any] = [
                client.post(url + "/cancel", headers=customer),
                client.post(url + "/status", json=ship, headers=shop.admin),
                client.post(url + "/cancel", headers=shop.admin),
            ]
            return list(await asyncio.gather(*moves))

        results = await asyncio.gather(*[race(order_id, c) for order_id, c in placed])

    shipped = set()
    for (order_id, _), answers in zip(placed, results, strict=True):
        statuses = [answer.status_code for answer in answers]
        assert sorted(statuses) == [200, 409, 409], [a.text for a in answers]
        for answer in answers:
            if answer.status_code == 409:
                assert answer.json()["type"].endswith("/illegal-transition"), answer.text
        winner = answers[statuses.index(200)].json()
        assert winner["status"] in ("cancelled", "shipped")
        assert [entry["status"] for entry in winner["history"]][-1] == winner["status"]
        if winner["status"] == "shipped":
            shipped.add(order_id)
    books = await settle(shop, {product: orders}, [order_id for order_id, _ in placed])
    assert {o for o, status in books.orders.items() if status == "shipped"} == shipped
    assert books.sold == {product: len(shipped)}  # every cancel gave its unit back


async def test_one_idempotency_key_from_ten_clients_makes_one_order(shop: Shop) -> None:
    clients = 10
    async with _client() as setup:
        product = await shop.product(setup, 20)
        [customer] = await shop.customers(setup, 1)
    headers = {**customer, "Idempotency-Key": f"one-key-{product}"}
    body = shop.order_body(product, quantity=3)

    async def client_until_answered() -> tuple[list[int], dict[str, Any]]:
        seen = []
        async with _client() as client:  # a client of its own: its own connections
            while True:
                answer = await client.post(shop.api + "/orders", json=body, headers=headers)
                seen.append(answer.status_code)
                if answer.status_code == 409 and answer.json()["type"].endswith("in-progress"):
                    assert answer.headers["retry-after"] == "1"
                    await asyncio.sleep(0.2)
                    continue
                return seen, answer.json()

    results = await asyncio.gather(*[client_until_answered() for _ in range(clients)])

    assert all(seen[-1] == 201 for seen, _ in results), results
    assert all(set(seen) <= {201, 409} for seen, _ in results), results
    first = results[0][1]
    assert all(answer == first for _, answer in results)  # the first answer, replayed
    rows = await shop.fetch(
        "orders",
        "SELECT id FROM orders WHERE requested_items @> $1::jsonb",
        f'[{{"product_id": "{product}"}}]',
    )
    assert [str(row["id"]) for row in rows] == [first["id"]]
    books = await settle(shop, {product: 20}, [first["id"]])
    assert books.sold == {product: 3}
