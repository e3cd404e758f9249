"""Orders of variants: lines name their variant and keep its SKU, name and title as
they were at placement; a product with several variants needs its variant named;
stock is taken, given back and never oversold per variant."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.orders.support import ADDRESS, API, OrdersEnv, User

SCARCE = 5  # units of the size everyone wants
SCARCE_BUYERS = 50
FREE_BUYERS = 10


def body(*lines: dict[str, Any]) -> dict[str, Any]:
    return {"items": list(lines), "shipping_address": dict(ADDRESS)}


async def place(env: OrdersEnv, user: User, *lines: dict[str, Any]) -> Any:
    return await env.client.post(API, json=body(*lines), headers=user.headers)


async def test_an_order_of_two_sizes_keeps_each_variant_as_it_was(env: OrdersEnv) -> None:
    product, sizes = await env.books.product_with_variants({"M": 4, "L": 3}, price=4200)
    customer = await env.tokens.user()

    response = await place(
        env,
        customer,
        {"variant_id": str(sizes["L"]), "quantity": 1},
        {"variant_id": str(sizes["M"]), "product_id": str(product), "quantity": 2},
    )

    assert response.status_code == 201, response.text
    order = response.json()
    entry = await env.books.catalog_entry(product)
    assert [
        (i["product_id"], i["variant_id"], i["sku"], i["name"], i["variant_title"], i["quantity"])
        for i in order["items"]
    ] == [
        (str(product), str(sizes["L"]), f"{entry.sku}-L", entry.name, "L", 1),
        (str(product), str(sizes["M"]), f"{entry.sku}-M", entry.name, "M", 2),
    ]
    assert order["subtotal"] == 3 * 4200
    assert await env.books.variant_levels(sizes["M"]) == (2, 0)
    assert await env.books.variant_levels(sizes["L"]) == (2, 0)
    # The line keeps what it was sold as, whatever the catalog says later.
    await env.books.execute(
        "UPDATE product_variants SET title = 'Large', sku = 'RENAMED' WHERE id = :id",
        id=sizes["L"],
    )
    read = (await env.get(customer, order["id"])).json()
    assert read["items"] == order["items"]

    cancelled = await env.cancel(customer, order["id"])
    assert cancelled.status_code == 200, cancelled.text
    assert await env.books.variant_levels(sizes["M"]) == (4, 0)
    assert await env.books.variant_levels(sizes["L"]) == (3, 0)
    await env.books.assert_variant_balanced(*sizes.values())


async def test_a_product_with_several_variants_needs_the_variant_named(env: OrdersEnv) -> None:
    product, sizes = await env.books.product_with_variants({"S": 2, "M": 2})
    single = await env.books.product(3)
    customer = await env.tokens.user()

    response = await place(
        env,
        customer,
        {"product_id": str(single), "quantity": 1},
        {"product_id": str(product), "quantity": 1},
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/variant-required")
    assert [(e["field"], e["product_id"], e["reason"]) for e in problem["errors"]] == [
        ("items.1.variant_id", str(product), "variant-required")
    ]
    assert await env.books.levels(single) == (3, 0)  # nothing reserved
    assert [await env.books.variant_levels(v) for v in sizes.values()] == [(2, 0), (2, 0)]
    # The shorthand still sells a single-variant product.
    assert (await place(env, customer, {"product_id": str(single), "quantity": 1})).status_code == (
        201
    )


async def test_fifty_buyers_for_five_units_of_one_size_while_another_sells_freely(
    env: OrdersEnv,
) -> None:
    product, sizes = await env.books.product_with_variants(
        {"S": SCARCE, "M": FREE_BUYERS * 2}, price=2500
    )
    scarce_buyers = [await env.tokens.user() for _ in range(SCARCE_BUYERS)]
    free_buyers = [await env.tokens.user() for _ in range(FREE_BUYERS)]

    def buy(user: User, size: str) -> Any:
        return place(env, user, {"variant_id": str(sizes[size]), "quantity": 1})

    answers = await asyncio.wait_for(
        asyncio.gather(
            *[buy(user, "S") for user in scarce_buyers],
            *[buy(user, "M") for user in free_buyers],
        ),
        300,
    )
    scarce, free = answers[:SCARCE_BUYERS], answers[SCARCE_BUYERS:]

    statuses = [answer.status_code for answer in scarce]
    assert statuses.count(201) == SCARCE, [
        a.text for a in scarce if a.status_code not in (201, 409)
    ]
    assert statuses.count(409) == SCARCE_BUYERS - SCARCE, [
        (a.status_code, a.text) for a in scarce if a.status_code not in (201, 409)
    ]
    for answer in scarce:
        if answer.status_code == 409:
            assert answer.json()["errors"] == [
                {
                    "product_id": str(product),
                    "variant_id": str(sizes["S"]),
                    "requested": 1,
                    "available": 0,
                }
            ]
    assert [answer.status_code for answer in free] == [201] * FREE_BUYERS, [
        a.text for a in free if a.status_code != 201
    ]
    assert await env.books.variant_levels(sizes["S"]) == (0, 0)
    assert await env.books.variant_levels(sizes["M"]) == (FREE_BUYERS, 0)
    await env.books.assert_variant_balanced(*sizes.values())
    winners = {uuid.UUID(a.json()["id"]) for a in answers if a.status_code == 201}
    assert await env.db.fetchval("SELECT count(*) FROM orders WHERE placed") == len(winners)
    assert len(winners) == SCARCE + FREE_BUYERS
    lines = await env.db.fetch("SELECT variant_id, count(*) AS n FROM order_lines GROUP BY 1")
    assert {row["variant_id"]: row["n"] for row in lines} == {
        sizes["S"]: SCARCE,
        sizes["M"]: FREE_BUYERS,
    }
    await env.assert_books_agree(product)
