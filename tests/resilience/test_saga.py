"""Faults inside one placement, staged between the saga's steps (in-process orders app in
front of the real products service, as in tests/orders)."""

from __future__ import annotations

import uuid

import pytest

from shop.orders.products_client import Reservation
from tests.orders.support import OrdersEnv
from tests.products.reservation_support import problem


@pytest.mark.parametrize("lapse", ["expired", "released"])
async def test_a_hold_that_lapses_mid_placement_refuses_the_order_and_sends_nothing(
    env: OrdersEnv, lapse: str
) -> None:
    """The reserve succeeds, then the hold expires (or the sweeper releases it) before the
    commit: the order is refused with a 409, never confirmed, and no email is queued."""
    product = await env.books.product(5)
    ada = await env.tokens.user()
    products = env.app.state.orders.products
    reserve = products.reserve

    async def reserve_then_lapse(
        order_id: uuid.UUID, items: list[tuple[uuid.UUID, int]]
    ) -> Reservation:
        reservation: Reservation = await reserve(order_id, items)
        await env.books.age(order_id)
        if lapse == "released":
            await products.restock(order_id)  # as the sweeper would
        return reservation

    products.reserve = reserve_then_lapse
    try:
        response = await env.place(ada, (product, 2), key="lapsing")
    finally:
        del products.reserve

    problem(response, 409, "stock-hold-lapsed")
    [row] = await env.db.fetch("SELECT * FROM orders")
    assert (row["status"], row["placed"], row["stock_state"]) == ("cancelled", False, "released")
    assert await env.db.fetchval("SELECT count(*) FROM outbox") == 0
    assert await env.books.levels(product) == (5, 0)
    assert (await env.client.get("/api/v1/orders", headers=ada.headers)).json()["items"] == []
    await env.assert_books_agree(product)
    # A refusal is remembered with its key; a new key places the order.
    problem(await env.place(ada, (product, 2), key="lapsing"), 409, "stock-hold-lapsed")
    placed = await env.place(ada, (product, 2), key="again")
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "confirmed"
    assert (await env.order_row(placed.json()["id"]))["stock_state"] == "committed"
    assert await env.books.levels(product) == (3, 0)
