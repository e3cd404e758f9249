"""Carts through the orders service's HTTP API, priced by the real products service:
guest and user carts, lines by variant at live catalog prices, problems, shipping,
tax and codes, merge after login, limits, and expiry."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.orders.conftest import EnvFactory
from tests.orders.support import SERVICE_TOKEN, OrdersEnv, User
from tests.orders.test_priced_orders import TEXAS, admin_post, us_pricing

CARTS = "/api/v1/carts"


class Carts:
    """A client of the carts API, as a guest or as a user."""

    def __init__(self, env: OrdersEnv, user: User | None = None) -> None:
        self.client = env.client
        self.headers = {} if user is None else dict(user.headers)

    async def call(self, method: str, path: str, **body: Any) -> httpx.Response:
        return await self.client.request(
            method, f"{CARTS}{path}", json=body or None, headers=self.headers
        )

    async def ok(self, method: str, path: str, status: int = 200, **body: Any) -> dict[str, Any]:
        response = await self.call(method, path, **body)
        assert response.status_code == status, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def create(self, **body: Any) -> dict[str, Any]:
        return await self.ok("POST", "", 201, **body)

    async def add(self, cart_id: str, quantity: int = 1, **ref: Any) -> dict[str, Any]:
        refs = {name: str(value) for name, value in ref.items()}
        return await self.ok("POST", f"/{cart_id}/items", quantity=quantity, **refs)


async def test_a_guest_fills_a_cart_priced_like_the_worked_example(env: OrdersEnv) -> None:
    headphones = await env.books.product(10, price=1999, name="Headphones")
    cable = await env.books.product(10, price=1250, name="Cable")
    method_id, code = await us_pricing(env)
    guest = Carts(env)

    cart = await guest.create()
    assert (cart["status"], cart["items"], cart["total"], cart["email"]) == ("open", [], 0, None)
    cart_id = cart["id"]
    await guest.add(cart_id, 1, product_id=headphones)
    await guest.add(cart_id, 1, variant_id=await env.books.variant(headphones))  # adds to it
    await guest.add(cart_id, 1, product_id=cable)
    await guest.ok("PUT", f"/{cart_id}/shipping-address", **TEXAS)
    options = await guest.ok("GET", f"/{cart_id}/shipping-options")
    assert [(o["id"], o["price"]) for o in options["items"]] == [(method_id, 799)]
    await guest.ok("PUT", f"/{cart_id}/shipping-method", shipping_method_id=method_id)
    cart = await guest.ok("POST", f"/{cart_id}/promotions", code=code)

    assert [(i["name"], i["quantity"], i["unit_price"]) for i in cart["items"]] == [
        ("Headphones", 2, 1999),
        ("Cable", 1, 1250),
    ]
    figures = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")
    assert [cart[name] for name in figures] == [5248, 525, 799, 390, 5912]
    assert [(i["discount"], i["tax"], i["line_total"]) for i in cart["items"]] == [
        (400, 297, 3895),
        (125, 93, 1218),
    ]
    assert cart["shipping_method"]["id"] == method_id
    assert (cart["promotion_code"], cart["currency"], cart["problems"]) == (code, "USD", [])
    assert await guest.ok("GET", f"/{cart_id}") == cart


async def test_a_cart_shows_the_catalogs_current_prices_and_its_problems(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, cart_catalog_cache_seconds=0) as env:
        mug = await env.books.product(5, price=1000, name="Mug")
        lamp = await env.books.product(1, price=4000, name="Lamp")
        guest = Carts(env)
        cart_id = (await guest.create())["id"]
        await guest.add(cart_id, 2, product_id=mug)
        line = (await guest.add(cart_id, 1, product_id=lamp))["items"][1]

        await env.books.execute(
            "UPDATE product_variants SET price = 1100 WHERE product_id = :id", id=mug
        )
        await env.books.execute("UPDATE inventory SET on_hand = 0 WHERE product_id = :id", id=lamp)
        short = await guest.ok("GET", f"/{cart_id}")
        await env.books.execute(
            "UPDATE product_variants SET status = 'archived' WHERE product_id = :id", id=lamp
        )
        archived = await guest.ok("GET", f"/{cart_id}")

    assert short["subtotal"] == 2 * 1100 + 4000
    assert short["problems"] == [
        {
            "reason": "insufficient-stock",
            "item_id": line["id"],
            "requested": 1,
            "available": 0,
            "detail": "Not enough stock.",
        }
    ]
    assert archived["subtotal"] == 2 * 1100  # the lamp stays, left out of the totals
    assert [i["line_total"] for i in archived["items"]] == [2200, 0]
    assert [(p["reason"], p["item_id"]) for p in archived["problems"]] == [("archived", line["id"])]


async def test_a_users_cart_is_theirs_alone(env: OrdersEnv) -> None:
    owner, stranger = await env.tokens.user(), await env.tokens.user()
    cart = await Carts(env, owner).create()
    assert cart["email"] == owner.email

    for caller in (Carts(env, stranger), Carts(env)):
        response = await caller.call("GET", f"/{cart['id']}")
        assert response.status_code == 404, response.text
        assert response.json()["type"].endswith("/cart-not-found")
    assert (await Carts(env).call("GET", f"/{uuid.uuid4()}")).status_code == 404


async def test_a_guest_cart_merges_into_the_users_after_login(env: OrdersEnv) -> None:
    mug = await env.books.product(50, price=1000)
    lamp = await env.books.product(50, price=4000)
    user = await env.tokens.user()
    guest, signed_in = Carts(env), Carts(env, user)
    guest_cart = (await guest.create(email="guest@example.com"))["id"]
    await guest.add(guest_cart, 2, product_id=mug)
    await guest.add(guest_cart, 1, product_id=lamp)
    await guest.ok("PUT", f"/{guest_cart}/shipping-address", **TEXAS)
    own = (await signed_in.create())["id"]
    await signed_in.add(own, 3, product_id=mug)

    merged = await signed_in.ok("POST", f"/{own}/merge", guest_cart_id=guest_cart)

    assert [(i["product_id"], i["quantity"]) for i in merged["items"]] == [
        (str(mug), 5),
        (str(lamp), 1),
    ]
    assert merged["email"] == user.email  # the user's own stays
    assert merged["shipping_address"]["region"] == "TX"  # taken from the guest's
    assert (await guest.call("GET", f"/{guest_cart}")).status_code == 404
    assert (await Carts(env).call("POST", f"/{own}/merge", guest_cart_id=own)).status_code == 401


async def test_limits_and_bad_input_are_422_naming_the_field(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, max_cart_lines=2) as env:
        products = [await env.books.product(500, price=100) for _ in range(3)]
        product, sizes = await env.books.product_with_variants({"S": 5, "M": 5})
        europe = await admin_post(
            env, "shipping-methods", name="EU", countries=["DE"], price=1, min_days=1, max_days=2
        )
        guest = Carts(env)
        cart_id = (await guest.create())["id"]
        await guest.add(cart_id, 100, product_id=products[0])
        await guest.add(cart_id, 1, product_id=products[1])

        answers = {
            "quantity": await guest.call(
                "POST", f"/{cart_id}/items", product_id=str(products[0]), quantity=1
            ),
            "items": await guest.call(
                "POST", f"/{cart_id}/items", product_id=str(products[2]), quantity=1
            ),
            "variant_id": await guest.call(
                "POST", f"/{cart_id}/items", product_id=str(product), quantity=1
            ),
            "shipping_address": await guest.call(
                "PUT", f"/{cart_id}/shipping-method", shipping_method_id=europe["id"]
            ),
            "code": await guest.call("POST", f"/{cart_id}/promotions", code="NOPE"),
        }
        await guest.ok("PUT", f"/{cart_id}/shipping-address", **TEXAS)
        answers["shipping_method_id"] = await guest.call(
            "PUT", f"/{cart_id}/shipping-method", shipping_method_id=europe["id"]
        )
        assert sizes

    for field, response in answers.items():
        assert response.status_code == 422, (field, response.text)
        assert [error["field"] for error in response.json()["errors"]] == [field], response.text
    assert answers["code"].json()["reason"] == "unknown"


async def test_expired_carts_are_swept(env: OrdersEnv) -> None:
    guest = Carts(env)
    kept, expired = (await guest.create())["id"], (await guest.create())["id"]
    await env.db.execute(
        "UPDATE carts SET expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(expired),
    )

    swept = await env.app.state.cart_sweeper.run_once()

    assert swept == 1
    assert (await guest.call("GET", f"/{expired}")).status_code == 404
    assert (await guest.call("GET", f"/{kept}")).status_code == 200


async def test_the_catalog_look_up_is_for_the_orders_service_alone(
    env: OrdersEnv, products_url: str
) -> None:
    product = await env.books.product(3, price=700)
    body = {"refs": [{"product_id": str(product)}, {"variant_id": str(uuid.uuid4())}]}
    async with httpx.AsyncClient(base_url=products_url) as client:
        anonymous = await client.post("/internal/v1/sellables", json=body)
        user = await env.tokens.user()
        with_bearer = await client.post("/internal/v1/sellables", json=body, headers=user.headers)
        answer = await client.post(
            "/internal/v1/sellables", json=body, headers={"X-Service-Token": SERVICE_TOKEN}
        )

    assert (anonymous.status_code, with_bearer.status_code) == (401, 401)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [
        (i["ref"], i["product_id"], i["unit_price"], i["available"]) for i in found["items"]
    ] == [(0, str(product), 700, 3)]
    assert found["missing"] == [{"ref": 1, "reason": "unknown"}]


async def _look_ups(products_url: str) -> float:
    """How many look-ups the products service has answered, from its own metrics."""
    async with httpx.AsyncClient(base_url=products_url) as client:
        text = (await client.get("/metrics")).text
    pattern = r'^http_requests_total\{[^}]*route="/internal/v1/sellables"[^}]*\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


async def test_a_cart_read_is_one_call_to_products_whatever_its_lines(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, cart_catalog_cache_seconds=3600) as env:
        guest = Carts(env)
        cart_id = (await guest.create())["id"]
        for _ in range(5):
            await guest.add(cart_id, 1, product_id=await env.books.product(5, price=100))
        env.app.state.orders.catalog.clear()  # cold
        before = await _look_ups(products_url)

        cold = await guest.ok("GET", f"/{cart_id}")
        after_cold = await _look_ups(products_url)
        warm = await guest.ok("GET", f"/{cart_id}")
        after_warm = await _look_ups(products_url)

    assert len(cold["items"]) == 5
    assert after_cold - before == 1  # one batched call for five lines
    assert after_warm - after_cold == 0  # kept in this process meanwhile
    assert warm == cold
