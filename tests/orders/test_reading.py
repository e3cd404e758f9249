"""GET /orders and GET /orders/{id}: own orders for customers, everything for admins."""

from __future__ import annotations

import uuid
from typing import Any

from tests.orders.support import API, OrdersEnv, User
from tests.products.reservation_support import problem


async def _pages(env: OrdersEnv, user: User, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await env.client.get(API, params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_customers_list_their_own_placed_orders_newest_first_page_by_page(
    env: OrdersEnv,
) -> None:
    product = await env.books.product(20)
    scarce = await env.books.product(0)
    ada, eve = await env.tokens.user(), await env.tokens.user()
    mine = [(await env.placed(ada, (product, 1)))["id"] for _ in range(5)]
    await env.placed(eve, (product, 1))
    problem(await env.place(ada, (scarce, 1)), 409)  # never placed: never listed

    pages = await _pages(env, ada, limit=2)

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [order["id"] for page in pages for order in page] == mine[::-1]
    assert pages[0][0]["items"][0]["product_id"] == str(product)
    only_confirmed = await _pages(env, ada, status="confirmed", limit=100)
    assert len(only_confirmed[0]) == 5
    assert (await _pages(env, ada, status="cancelled"))[0] == []


async def test_admins_see_every_order_and_filter_by_user_and_status(env: OrdersEnv) -> None:
    product = await env.books.product(20)
    scarce = await env.books.product(0)
    ada, eve, admin = (
        await env.tokens.user(),
        await env.tokens.user(),
        await env.tokens.admin(),
    )
    first = await env.placed(ada, (product, 1))
    await env.placed(eve, (product, 1))
    await env.cancel(ada, first["id"])
    problem(await env.place(eve, (scarce, 1)), 409)

    everything = [o for page in await _pages(env, admin) for o in page]
    assert len(everything) == 3  # the failed placement too: admins see it
    adas = [o for page in await _pages(env, admin, user_id=str(ada.user_id)) for o in page]
    assert [o["id"] for o in adas] == [first["id"]]
    cancelled = [o for page in await _pages(env, admin, status="cancelled") for o in page]
    assert len(cancelled) == 2
    failed = next(o for o in cancelled if o["id"] != first["id"])
    assert failed["items"] == []
    assert failed["currency"] is None
    assert (await env.get(admin, failed["id"])).json()["status"] == "cancelled"


async def test_customers_cannot_list_other_users_orders(env: OrdersEnv) -> None:
    ada = await env.tokens.user()
    response = await env.client.get(API, params={"user_id": str(uuid.uuid4())}, headers=ada.headers)
    problem(response, 403)
    own = await env.client.get(API, params={"user_id": str(ada.user_id)}, headers=ada.headers)
    assert own.status_code == 200


async def test_list_parameters_are_validated(env: OrdersEnv) -> None:
    ada = await env.tokens.user()
    for params in ({"limit": 0}, {"limit": 101}, {"status": "lost"}, {"user_id": "x"}):
        problem(await env.client.get(API, params=params, headers=ada.headers), 422)
    problem(await env.client.get(API, params={"cursor": "garbage"}, headers=ada.headers), 400)


async def test_unknown_and_malformed_ids(env: OrdersEnv) -> None:
    ada = await env.tokens.user()
    problem(await env.get(ada, str(uuid.uuid4())), 404, "order-not-found")
    problem(await env.get(ada, "not-a-uuid"), 422)
    problem(await env.client.get(API), 401)
