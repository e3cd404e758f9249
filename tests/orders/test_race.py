"""Many verified customers, little stock: never oversold, and both services agree."""

from __future__ import annotations

import asyncio
import uuid

from tests.orders.support import OrdersEnv

CUSTOMERS = 24
UNITS = 5


async def test_twenty_four_customers_racing_for_five_units(env: OrdersEnv) -> None:
    product = await env.books.product(UNITS, price=2500)
    customers = [await env.tokens.user() for _ in range(CUSTOMERS)]

    answers = await asyncio.wait_for(
        asyncio.gather(*[env.place(customer, (product, 1)) for customer in customers]), 120
    )

    statuses = [answer.status_code for answer in answers]
    assert statuses.count(201) == UNITS, [
        a.text for a in answers if a.status_code not in (201, 409)
    ]
    assert statuses.count(409) == CUSTOMERS - UNITS
    for answer in answers:
        if answer.status_code == 409:
            [error] = answer.json()["errors"]
            assert error.pop("variant_id")  # the product's only (default) variant
            assert error == {"product_id": str(product), "requested": 1, "available": 0}
    on_hand, reserved = await env.books.levels(product)
    assert (on_hand, reserved) == (0, 0)  # available ends at 0, nothing merely held
    winners = {uuid.UUID(a.json()["id"]) for a in answers if a.status_code == 201}
    confirmed = {
        row["id"] for row in await env.db.fetch("SELECT id FROM orders WHERE status = 'confirmed'")
    }
    assert confirmed == winners
    assert await env.db.fetchval("SELECT count(*) FROM orders WHERE placed") == UNITS
    committed = await env.books.held_and_committed(product)
    assert committed == (0, UNITS)
    await env.assert_books_agree(product)
    # The ledger names exactly the winning orders.
    ledger = await env.books.ledger(product)
    assert {m.order_id for m in ledger if m.order_id is not None} == winners
