"""POST /orders priced: a shipping method, the address's tax rate and a promotion code,
every figure kept on the order; the code's use claimed when the order is placed and
given back when it is cancelled; a refused code leaves nothing behind."""

from __future__ import annotations

from typing import Any

from tests.orders.conftest import EnvFactory
from tests.orders.support import ADDRESS, API, OrdersEnv, User

TEXAS = {**ADDRESS, "country": "US", "region": "TX", "city": "Austin", "postal_code": "78701"}


async def admin_post(env: OrdersEnv, path: str, **body: Any) -> dict[str, Any]:
    admin = await env.tokens.admin()
    response = await env.client.post(f"/api/v1/{path}", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def us_pricing(env: OrdersEnv, **promotion: Any) -> tuple[str, str]:
    """The worked example's pricing: shipping 7.99 (free from 75.00), Texas 8.25 %, and a
    10 % code. Returns the method's id and the code."""
    method = await admin_post(
        env,
        "shipping-methods",
        name="Ground",
        countries=["US"],
        price=799,
        free_over=7500,
        min_days=3,
        max_days=5,
    )
    await admin_post(env, "tax-rates", country="US", region="TX", name="Texas", rate_bp=825)
    code = await admin_post(
        env, "promotions", **({"code": "TEN", "kind": "percentage", "value": 10} | promotion)
    )
    return method["id"], code["code"]


async def place(env: OrdersEnv, user: User, lines: list[dict[str, Any]], **extra: Any) -> Any:
    body = {"items": lines, "shipping_address": TEXAS, **extra}
    return await env.client.post(API, json=body, headers=user.headers)


async def test_an_order_keeps_every_figure_of_the_worked_example(env: OrdersEnv) -> None:
    headphones = await env.books.product(10, price=1999, name="Headphones")
    cable = await env.books.product(10, price=1250, name="Cable")
    method_id, code = await us_pricing(env)
    customer = await env.tokens.user()

    response = await place(
        env,
        customer,
        [
            {"product_id": str(headphones), "quantity": 2},
            {"product_id": str(cable), "quantity": 1},
        ],
        shipping_method_id=method_id,
        promotion_code=code.lower(),
    )

    assert response.status_code == 201, response.text
    order = response.json()
    figures = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")
    assert [order[name] for name in figures] == [5248, 525, 799, 390, 5912]
    assert [
        (i["line_subtotal"], i["discount"], i["tax"], i["line_total"]) for i in order["items"]
    ] == [
        (3998, 400, 297, 3895),
        (1250, 125, 93, 1218),
    ]
    assert order["promotion_code"] == "ten"
    assert order["shipping_method"] == {"id": method_id, "name": "Ground", "price": 799}
    assert order["email"] == customer.email
    assert (await env.get(customer, order["id"])).json() == order
    uses = await env.db.fetchval("SELECT times_used FROM promotions")
    assert uses == 1

    cancelled = await env.cancel(customer, order["id"])
    assert cancelled.status_code == 200, cancelled.text
    assert await env.db.fetchval("SELECT times_used FROM promotions") == 0
    assert await env.db.fetchval("SELECT count(*) FROM promotion_uses") == 0


async def test_an_order_without_choices_is_priced_as_before(env: OrdersEnv) -> None:
    product = await env.books.product(5, price=1000)
    customer = await env.tokens.user()

    order = await env.placed(customer, (product, 3))

    assert [order[k] for k in ("subtotal", "discount_total", "shipping_total", "tax_total")] == [
        3000,
        0,
        0,
        0,
    ]
    assert order["total"] == 3000
    assert order["promotion_code"] is None
    assert order["shipping_method"] is None


async def test_a_code_with_no_use_left_refuses_the_order_and_keeps_nothing(
    env: OrdersEnv,
) -> None:
    product = await env.books.product(5, price=1000)
    _, code = await us_pricing(env, code="ONCE", usage_limit=1)
    first, second = await env.tokens.user(), await env.tokens.user()
    line = [{"product_id": str(product), "quantity": 1}]
    assert (await place(env, first, line, promotion_code=code)).status_code == 201

    refused = await place(env, second, line, promotion_code=code)

    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/promotion-exhausted")
    assert await env.books.levels(product) == (4, 0)  # only the first order's unit left
    rows = await env.db.fetch("SELECT status, placed FROM orders ORDER BY created_at")
    assert [(row["status"], row["placed"]) for row in rows] == [
        ("confirmed", True),
        ("cancelled", False),
    ]
    await env.reconcile()
    await env.assert_books_agree(product)


async def test_bad_choices_and_quantities_are_422_naming_the_field(env: OrdersEnv) -> None:
    product = await env.books.product(500, price=1000)
    method = await admin_post(
        env,
        "shipping-methods",
        name="Europe only",
        countries=["DE"],
        price=500,
        min_days=1,
        max_days=2,
    )
    customer = await env.tokens.user()
    line = {"product_id": str(product), "quantity": 1}

    not_offered = await place(env, customer, [line], shipping_method_id=method["id"])
    unknown_code = await place(env, customer, [line], promotion_code="NOPE")
    too_many = await place(env, customer, [{**line, "quantity": 101}])

    assert not_offered.status_code == 422, not_offered.text
    assert not_offered.json()["errors"][0]["field"] == "shipping_method_id"
    assert unknown_code.status_code == 422, unknown_code.text
    assert unknown_code.json()["reason"] == "unknown"
    assert too_many.status_code == 422, too_many.text
    assert too_many.json()["errors"] == [
        {"field": "items.0.quantity", "message": "must be at most 100"}
    ]
    assert await env.books.levels(product) == (500, 0)


async def test_a_tax_inclusive_shop_prices_the_eu_worked_example(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, prices_include_tax=True) as env:
        book = await env.books.product(5, price=2999, name="Book")
        pens = await env.books.product(5, price=1499, name="Pens")
        method = await admin_post(
            env,
            "shipping-methods",
            name="DHL",
            countries=["DE"],
            price=490,
            free_over=10000,
            min_days=1,
            max_days=3,
        )
        await admin_post(
            env, "tax-rates", country="DE", name="MwSt", rate_bp=1900, applies_to_shipping=True
        )
        await admin_post(env, "promotions", code="MINUS10", kind="fixed", value=1000)
        berlin = {**ADDRESS, "country": "DE", "city": "Berlin", "postal_code": "10115"}
        customer = await env.tokens.user()

        response = await env.client.post(
            API,
            json={
                "items": [
                    {"product_id": str(book), "quantity": 1},
                    {"product_id": str(pens), "quantity": 3},
                ],
                "shipping_address": berlin,
                "shipping_method_id": method["id"],
                "promotion_code": "MINUS10",
            },
            headers=customer.headers,
        )

    assert response.status_code == 201, response.text
    order = response.json()
    figures = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")
    assert [order[name] for name in figures] == [7496, 1000, 490, 1115, 6986]
    assert [(i["discount"], i["tax"], i["line_total"]) for i in order["items"]] == [
        (400, 415, 2599),
        (600, 622, 3897),
    ]
