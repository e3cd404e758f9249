"""Cancel, ship, deliver: one state machine, every move in the history, one winner."""

from __future__ import annotations

import asyncio

import pytest

from tests.orders.support import OrdersEnv
from tests.products.reservation_support import problem


async def test_cancel_gives_the_stock_back(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada = await env.tokens.user()
    order = await env.placed(ada, (product, 2))
    assert await env.books.levels(product) == (3, 0)

    response = await env.cancel(ada, order["id"])

    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert [(h["status"], h["note"]) for h in cancelled["history"]][-1] == (
        "cancelled",
        "cancelled by the customer",
    )
    assert await env.books.levels(product) == (5, 0)
    assert (await env.order_row(order["id"]))["stock_state"] == "released"
    await env.assert_books_agree(product)
    # Cancelling again is an illegal transition.
    problem(await env.cancel(ada, order["id"]), 409, "illegal-transition")


async def test_a_cancel_whose_stock_call_fails_is_finished_by_the_reconciler(
    env: OrdersEnv,
) -> None:
    product = await env.books.product(5)
    ada = await env.tokens.user()
    order = await env.placed(ada, (product, 2))
    products = env.app.state.orders.products
    token, products.token = products.token, "a-wrong-token-0123456789"
    try:
        assert (await env.cancel(ada, order["id"])).status_code == 200
    finally:
        products.token = token
    assert (await env.order_row(order["id"]))["stock_state"] == "committed"
    assert await env.books.levels(product) == (3, 0)

    assert (await env.reconcile()).given_back == 1

    assert await env.books.levels(product) == (5, 0)
    assert (await env.order_row(order["id"]))["stock_state"] == "released"
    await env.assert_books_agree(product)


async def test_admin_ships_then_delivers_and_the_history_says_who_and_why(
    env: OrdersEnv,
) -> None:
    product = await env.books.product(5)
    ada, admin = await env.tokens.user(), await env.tokens.admin()
    order = await env.placed(ada, (product, 1))

    shipped = await env.set_status(
        admin, order["id"], status="shipped", tracking_number="1Z999AA10123456784", note="DHL"
    )
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["tracking_number"] == "1Z999AA10123456784"
    delivered = await env.set_status(admin, order["id"], status="delivered")
    assert delivered.status_code == 200, delivered.text

    seen = (await env.get(ada, order["id"])).json()
    assert seen["status"] == "delivered"
    assert [(h["status"], h["note"]) for h in seen["history"]] == [
        ("pending", "order received"),
        ("confirmed", "stock reserved"),
        ("shipped", "DHL"),
        ("delivered", ""),
    ]
    times = [h["at"] for h in seen["history"]]
    assert times == sorted(times)
    actors = [r["actor"] for r in await env.db.fetch("SELECT actor FROM order_events ORDER BY id")]
    assert actors == [f"user:{ada.user_id}"] * 2 + [f"admin:{admin.user_id}"] * 2


async def test_cancel_after_shipping_and_other_illegal_moves_are_409(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada, admin = await env.tokens.user(), await env.tokens.admin()
    order = await env.placed(ada, (product, 1))

    problem(await env.set_status(admin, order["id"], status="delivered"), 409, "illegal-transition")
    await env.set_status(admin, order["id"], status="shipped", tracking_number="T-1")
    problem(await env.cancel(ada, order["id"]), 409, "illegal-transition")
    problem(await env.cancel(admin, order["id"]), 409, "illegal-transition")
    answer = problem(
        await env.set_status(admin, order["id"], status="shipped", tracking_number="T-2"),
        409,
        "illegal-transition",
    )
    assert (answer["current_status"], answer["requested_status"]) == ("shipped", "shipped")
    await env.set_status(admin, order["id"], status="delivered")
    problem(await env.set_status(admin, order["id"], status="delivered"), 409, "illegal-transition")

    other = await env.placed(ada, (product, 1))
    await env.cancel(ada, other["id"])
    problem(
        await env.set_status(admin, other["id"], status="shipped", tracking_number="T-3"),
        409,
        "illegal-transition",
    )
    assert (await env.get(ada, order["id"])).json()["tracking_number"] == "T-1"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "shipped"},
        {"status": "delivered", "tracking_number": "T"},
        {"status": "cancelled"},
        {"status": "confirmed"},
        {"status": "shipped", "tracking_number": "T", "extra": 1},
    ],
)
async def test_status_bodies_are_validated(env: OrdersEnv, body: dict[str, str]) -> None:
    product = await env.books.product(5)
    ada, admin = await env.tokens.user(), await env.tokens.admin()
    order = await env.placed(ada, (product, 1))
    problem(await env.set_status(admin, order["id"], **body), 422, "validation")


async def test_only_admins_change_the_status(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada = await env.tokens.user()
    order = await env.placed(ada, (product, 1))
    answer = await env.set_status(ada, order["id"], status="shipped", tracking_number="T")
    problem(answer, 403, "forbidden")


async def test_another_customers_order_is_404_for_read_and_cancel(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada, eve, admin = (
        await env.tokens.user(),
        await env.tokens.user(),
        await env.tokens.admin(),
    )
    order = await env.placed(ada, (product, 1))

    problem(await env.get(eve, order["id"]), 404, "order-not-found")
    problem(await env.cancel(eve, order["id"]), 404, "order-not-found")
    assert (await env.get(ada, order["id"])).json()["status"] == "confirmed"
    assert (await env.get(admin, order["id"])).status_code == 200
    # An admin may cancel anyone's order.
    cancelled = await env.cancel(admin, order["id"])
    assert cancelled.json()["history"][-1]["note"] == "cancelled by an admin"
    assert await env.books.levels(product) == (5, 0)


async def test_concurrent_cancel_and_ship_have_exactly_one_winner(env: OrdersEnv) -> None:
    product = await env.books.product(50)
    ada, admin = await env.tokens.user(), await env.tokens.admin()
    for _ in range(6):
        order = await env.placed(ada, (product, 2))
        cancel, ship = await asyncio.gather(
            env.cancel(ada, order["id"]),
            env.set_status(admin, order["id"], status="shipped", tracking_number="T"),
        )
        assert sorted([cancel.status_code, ship.status_code]) == [200, 409], (
            cancel.text,
            ship.text,
        )
        final = (await env.get(ada, order["id"])).json()
        winner = "cancelled" if cancel.status_code == 200 else "shipped"
        assert final["status"] == winner
        assert [h["status"] for h in final["history"]][2:] == [winner]
    await env.reconcile()
    await env.assert_books_agree(product)
