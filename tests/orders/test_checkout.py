"""Checkout through the orders service's HTTP API and the real products service: a cart
becomes one order (never two, however many checkouts race), priced as the cart was;
guests check out only where manual payments are allowed to them and read their order
with its token; a code's last uses go to exactly as many orders."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.orders.conftest import EnvFactory
from tests.orders.support import API, OrdersEnv, User
from tests.orders.test_carts import Carts
from tests.orders.test_priced_orders import TEXAS, us_pricing

RACERS = 10
CLAIMANTS = 30
USES_LEFT = 5


async def ready_cart(
    env: OrdersEnv, carts: Carts, method_id: str, *lines: tuple[uuid.UUID, int], **extra: Any
) -> dict[str, Any]:
    """A cart with ``lines``, the Texas address and the method (and ``extra`` calls)."""
    cart = await carts.create(**({"email": extra["email"]} if "email" in extra else {}))
    for product, quantity in lines:
        await carts.add(cart["id"], quantity, product_id=product)
    await carts.ok("PUT", f"/{cart['id']}/shipping-address", **TEXAS)
    await carts.ok("PUT", f"/{cart['id']}/shipping-method", shipping_method_id=method_id)
    if "code" in extra:
        await carts.ok("POST", f"/{cart['id']}/promotions", code=extra["code"])
    return await carts.ok("GET", f"/{cart['id']}")


async def check_out(carts: Carts, cart_id: str, key: str | None = None) -> httpx.Response:
    headers = dict(carts.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await carts.client.post(f"/api/v1/carts/{cart_id}/checkout", headers=headers)


async def test_a_signed_in_checkout_keeps_every_figure_of_the_cart(env: OrdersEnv) -> None:
    headphones = await env.books.product(10, price=1999, name="Headphones")
    cable = await env.books.product(10, price=1250, name="Cable")
    method_id, code = await us_pricing(env)
    user = await env.tokens.user()
    carts = Carts(env, user)
    cart = await ready_cart(env, carts, method_id, (headphones, 2), (cable, 1), code=code)

    response = await check_out(carts, cart["id"], key="checkout-1")

    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"] == f"{API}/{order['id']}"
    figures = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")
    assert [order[name] for name in figures] == [cart[name] for name in figures]
    assert [order[name] for name in figures] == [5248, 525, 799, 390, 5912]
    assert [(i["discount"], i["tax"], i["line_total"]) for i in order["items"]] == [
        (i["discount"], i["tax"], i["line_total"]) for i in cart["items"]
    ]
    assert (order["status"], order["email"], order["promotion_code"]) == (
        "confirmed",
        user.email,
        code,
    )
    assert order["shipping_method"]["id"] == method_id
    assert order["user_id"] == str(user.user_id)
    assert "order_token" not in order
    assert (await carts.ok("GET", f"/{cart['id']}"))["status"] == "completed"
    assert (await env.get(user, order["id"])).json()["total"] == 5912
    assert await env.books.levels(headphones) == (8, 0)

    replay = await check_out(carts, cart["id"], key="checkout-1")
    again = await check_out(carts, cart["id"], key="checkout-2")
    changed = await carts.call("POST", f"/{cart['id']}/items", product_id=str(cable), quantity=1)

    assert (replay.status_code, replay.json()["id"]) == (201, order["id"])
    assert again.status_code == 409, again.text
    assert again.json()["type"].endswith("/cart-completed")
    assert changed.status_code == 409, changed.text
    assert await env.order_count() == 1
    assert await env.db.fetchval("SELECT times_used FROM promotions") == 1


async def test_a_guest_checks_out_where_manual_payments_are_allowed_to_guests(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, manual_payments_for_guests=True) as env:
        product = await env.books.product(5, price=2500)
        method_id, _ = await us_pricing(env)
        guest = Carts(env)
        cart = await ready_cart(env, guest, method_id, (product, 2), email="Guest@Example.com")

        response = await check_out(guest, cart["id"])

        assert response.status_code == 201, response.text
        order = response.json()
        token = order["order_token"]
        assert (order["email"], order["total"]) == ("Guest@example.com", cart["total"])
        read = await env.client.get(f"{API}/{order['id']}", headers={"X-Order-Token": token})
        assert read.status_code == 200, read.text
        assert read.json()["id"] == order["id"]
        assert (order["user_id"], read.json()["user_id"]) == (None, None)
        assert "order_token" not in read.json()
        wrong = await env.client.get(f"{API}/{order['id']}", headers={"X-Order-Token": "x" * 43})
        anonymous = await env.client.get(f"{API}/{order['id']}")
        stranger = await env.get(await env.tokens.user(), order["id"])
        assert (wrong.status_code, anonymous.status_code, stranger.status_code) == (404, 401, 404)
        row = await env.order_row(order["id"])
        assert row["user_id"] is None
        assert row["order_token_hash"] != token
        assert (
            await env.db.fetchval(
                "SELECT count(*) FROM outbox WHERE payload::text LIKE '%Guest@example.com%'"
            )
            == 1
        )


async def test_guests_cant_pay_manually_unless_the_shop_allows_it(env: OrdersEnv) -> None:
    product = await env.books.product(5, price=2500)
    method_id, _ = await us_pricing(env)
    guest = Carts(env)
    cart = await ready_cart(env, guest, method_id, (product, 1), email="guest@example.com")

    refused = await check_out(guest, cart["id"])

    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["payment_provider"]
    assert (await guest.ok("GET", f"/{cart['id']}"))["status"] == "open"
    assert await env.order_count() == 0


async def test_a_cart_missing_what_an_order_needs_is_422_naming_each(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, manual_payments_for_guests=True) as env:
        guest = Carts(env)
        cart = await guest.create()

        refused = await check_out(guest, cart["id"])

    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == [
        "items",
        "email",
        "shipping_address",
        "shipping_method_id",
    ]


async def test_racing_checkouts_of_one_cart_make_one_order(env: OrdersEnv) -> None:
    product = await env.books.product(50, price=1000)
    method_id, _ = await us_pricing(env)
    user = await env.tokens.user()
    carts = Carts(env, user)
    cart = await ready_cart(env, carts, method_id, (product, 3))

    answers = await asyncio.gather(*(check_out(carts, cart["id"]) for _ in range(RACERS)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * (RACERS - 1), [a.text for a in answers]
    slugs = {a.json()["type"].rsplit("/", 1)[-1] for a in answers if a.status_code == 409}
    assert slugs <= {"checkout-in-progress", "cart-completed"}
    assert await env.db.fetchval("SELECT count(*) FROM orders WHERE placed") == 1
    assert await env.books.levels(product) == (47, 0)
    assert (await carts.ok("GET", f"/{cart['id']}"))["status"] == "completed"
    await env.reconcile()
    await env.assert_books_agree(product)


async def test_thirty_checkouts_race_for_a_code_with_five_uses_left(env: OrdersEnv) -> None:
    product = await env.books.product(CLAIMANTS, price=5000)
    method_id, code = await us_pricing(env, code="LAST5", usage_limit=USES_LEFT + 2)
    await env.db.execute("UPDATE promotions SET times_used = 2")
    users = [await env.tokens.user() for _ in range(CLAIMANTS)]
    carts = [Carts(env, user) for user in users]
    ready = [await ready_cart(env, c, method_id, (product, 1), code=code) for c in carts]

    answers = await asyncio.gather(
        *(check_out(c, cart["id"]) for c, cart in zip(carts, ready, strict=True))
    )

    placed = [a for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code != 201]
    assert len(placed) == USES_LEFT, [a.text for a in refused]
    assert all(order.json()["discount_total"] == 500 for order in placed)
    assert [a.status_code for a in refused] == [409] * (CLAIMANTS - USES_LEFT)
    assert {a.json()["type"].rsplit("/", 1)[-1] for a in refused} == {"promotion-exhausted"}
    assert await env.db.fetchval("SELECT times_used FROM promotions") == USES_LEFT + 2
    for c, cart, answer in zip(carts, ready, answers, strict=True):
        if answer.status_code == 409:  # intact: still open, the same lines and code
            after = await c.ok("GET", f"/{cart['id']}")
            assert after["status"] == "open"
            assert after["items"] == cart["items"] or after["problems"]
            assert [(i["id"], i["quantity"]) for i in after["items"]] == [
                (i["id"], i["quantity"]) for i in cart["items"]
            ]
    assert await env.books.levels(product) == (CLAIMANTS - USES_LEFT, 0)
    await env.reconcile()
    await env.assert_books_agree(product)


async def test_a_user_holds_at_most_max_unpaid_manual_orders(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, max_unpaid_orders=1) as env:
        product = await env.books.product(10, price=1000)
        method_id, _ = await us_pricing(env)
        user: User = await env.tokens.user()
        carts = Carts(env, user)
        first = await ready_cart(env, carts, method_id, (product, 1))
        second = await ready_cart(env, carts, method_id, (product, 1))

        assert (await check_out(carts, first["id"])).status_code == 201
        refused = await check_out(carts, second["id"])

        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("/too-many-unpaid-orders")
        assert (await carts.ok("GET", f"/{second['id']}"))["status"] == "open"
        assert await env.books.levels(product) == (9, 0)
