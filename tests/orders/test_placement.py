"""POST /orders: validation, prices from the catalog, refusals, with the real products service."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.orders.support import ADDRESS, API, OrdersEnv, items, order_body
from tests.products.reservation_support import problem


async def test_an_order_is_placed_with_the_catalogs_prices_and_its_stock_committed(
    env: OrdersEnv,
) -> None:
    lamp = await env.books.product(5, price=4500, name="Desk Lamp")
    mug = await env.books.product(10, price=1250, name="Coffee Mug")
    ada = await env.tokens.user(email="ada@example.com")

    response = await env.place(ada, (mug, 3), (lamp, 1))

    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"] == f"{API}/{order['id']}"
    assert order["status"] == "confirmed"
    assert order["number"].startswith("ORD-")
    mug_entry, lamp_entry = await env.books.catalog_entry(mug), await env.books.catalog_entry(lamp)
    assert order["items"] == [  # in the customer's order, priced by the catalog
        {
            "product_id": str(mug),
            "variant_id": await env.books.variant(mug),
            "sku": mug_entry.sku,
            "name": "Coffee Mug",
            "variant_title": "",
            "unit_price": 1250,
            "quantity": 3,
            "line_subtotal": 3750,
            "discount": 0,
            "tax": 0,
            "line_total": 3750,
        },
        {
            "product_id": str(lamp),
            "variant_id": await env.books.variant(lamp),
            "sku": lamp_entry.sku,
            "name": "Desk Lamp",
            "variant_title": "",
            "unit_price": 4500,
            "quantity": 1,
            "line_subtotal": 4500,
            "discount": 0,
            "tax": 0,
            "line_total": 4500,
        },
    ]
    assert (order["subtotal"], order["total"], order["currency"]) == (8250, 8250, "USD")
    assert order["shipping_address"] == {**ADDRESS, "line2": None, "region": None}
    assert order["tracking_number"] is None
    assert [(h["status"], h["note"]) for h in order["history"]] == [
        ("pending", "order received"),
        ("confirmed", "stock reserved"),
    ]
    assert set(order) == {
        "id",
        "number",
        "status",
        "payment_status",
        "payment",
        "refunds",
        "user_id",
        "email",
        "items",
        "subtotal",
        "discount_total",
        "shipping_total",
        "tax_total",
        "total",
        "promotion_code",
        "shipping_method",
        "currency",
        "shipping_address",
        "tracking_number",
        "history",
        "created_at",
    }
    # The units have left the shelf at products, and the two services agree.
    assert await env.books.levels(mug) == (7, 0)
    assert await env.books.levels(lamp) == (4, 0)
    row = await env.order_row(order["id"])
    assert (row["placed"], row["stock_state"], row["email"]) == (
        True,
        "committed",
        "ada@example.com",
    )
    await env.assert_books_agree(mug, lamp)
    assert (await env.get(ada, order["id"])).json() == order


async def test_order_numbers_are_unique_and_increasing(env: OrdersEnv) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    numbers = [(await env.placed(ada, (product, 1)))["number"] for _ in range(3)]
    assert len(set(numbers)) == 3
    assert numbers == sorted(numbers)


async def test_a_client_cannot_set_prices_or_other_fields(env: OrdersEnv) -> None:
    product = await env.books.product(10, price=1999)
    ada = await env.tokens.user()
    body = order_body((product, 1))
    body["items"][0]["unit_price"] = 1

    for sent in (
        body,
        order_body((product, 1), total=1),
        order_body((product, 1), status="shipped"),
    ):
        problem(await env.client.post(API, json=sent, headers=ada.headers), 422, "validation")
    assert await env.order_count() == 0
    assert await env.books.levels(product) == (10, 0)


def _address(**changes: Any) -> dict[str, Any]:
    return {**ADDRESS, **changes}


def _one_item(**address: Any) -> dict[str, Any]:
    return {"items": items((uuid.uuid4(), 1)), "shipping_address": _address(**address)}


def _item(product_id: str, quantity: int) -> dict[str, Any]:
    return {
        "items": [{"product_id": product_id, "quantity": quantity}],
        "shipping_address": ADDRESS,
    }


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("items", {"items": [], "shipping_address": ADDRESS}),
        ("items", {"items": items(*[(uuid.uuid4(), 1)] * 101), "shipping_address": ADDRESS}),
        ("items.0.quantity", _item(str(uuid.uuid4()), 0)),
        ("items.0.quantity", _item(str(uuid.uuid4()), 1001)),
        ("items.0.product_id", _item("nope", 1)),
        ("shipping_address.country", _one_item(country="XX")),
        ("shipping_address.country", _one_item(country="GBR")),
        ("shipping_address.line1", _one_item(line1="  ")),
        ("shipping_address.name", _one_item(name="x" * 201)),
        ("shipping_address.postal_code", _one_item(postal_code="1" * 21)),
        ("shipping_address.city", _one_item(city=None)),
        ("shipping_address.phone", _one_item(phone="1")),
        ("shipping_address", {"items": items((uuid.uuid4(), 1))}),
    ],
)
async def test_invalid_bodies_are_refused(env: OrdersEnv, field: str, body: dict[str, Any]) -> None:
    ada = await env.tokens.user()
    answer = problem(await env.client.post(API, json=body, headers=ada.headers), 422, "validation")
    assert any(error["field"].startswith(field) for error in answer["errors"]), answer
    assert await env.order_count() == 0


async def test_a_product_listed_twice_is_refused(env: OrdersEnv) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    answer = problem(await env.place(ada, (product, 1), (product, 2)), 422, "validation")
    assert answer["errors"][0]["field"] == "items"
    assert "more than once" in answer["errors"][0]["message"]


async def test_a_lower_case_country_is_accepted_as_its_code(env: OrdersEnv) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    body = {"items": items((product, 1)), "shipping_address": _address(country="de", line2="Hof")}
    response = await env.client.post(API, json=body, headers=ada.headers)
    assert response.status_code == 201, response.text
    assert response.json()["shipping_address"]["country"] == "DE"


async def test_not_enough_stock_is_409_with_every_short_line_and_nothing_held(
    env: OrdersEnv,
) -> None:
    plenty = await env.books.product(10)
    short = await env.books.product(2)
    ada = await env.tokens.user()

    answer = problem(await env.place(ada, (plenty, 1), (short, 3)), 409, "insufficient-stock")

    [error] = answer["errors"]
    assert error.pop("variant_id")  # the product's only (default) variant
    assert error == {"product_id": str(short), "requested": 3, "available": 2}
    assert await env.books.levels(plenty) == (10, 0)
    assert await env.books.levels(short) == (2, 0)
    [row] = await env.db.fetch("SELECT * FROM orders")
    assert (row["status"], row["placed"], row["stock_state"]) == ("cancelled", False, "none")
    # The failed placement is never shown to the customer.
    assert (await env.client.get(API, headers=ada.headers)).json()["items"] == []
    problem(await env.get(ada, str(row["id"])), 404, "order-not-found")
    await env.assert_books_agree(plenty, short)
    # The reconciler leaves a tombstone, so a reserve still on its way would be refused.
    assert (await env.reconcile()).given_back == 1
    assert (await env.order_row(row["id"]))["stock_state"] == "released"
    assert await env.books.levels(short) == (2, 0)


async def test_unknown_or_inactive_products_are_422(env: OrdersEnv) -> None:
    from shop.products.models import ProductStatus

    draft = await env.books.product(5, status=ProductStatus.DRAFT)
    active = await env.books.product(5)
    unknown = uuid.uuid4()
    ada = await env.tokens.user()

    answer = problem(await env.place(ada, (active, 1), (unknown, 1), (draft, 1)), 422)

    assert answer["type"].endswith("/products-not-orderable")
    assert {(e["field"], e["product_id"]) for e in answer["errors"]} == {
        ("items.1.product_id", str(unknown)),
        ("items.2.product_id", str(draft)),
    }
    assert await env.books.levels(active) == (5, 0)
    [row] = await env.db.fetch("SELECT status, placed FROM orders")
    assert (row["status"], row["placed"]) == ("cancelled", False)


async def test_only_verified_customers_place_orders(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    unverified = await env.tokens.user(verified=False)

    problem(await env.place(unverified, (product, 1)), 403, "forbidden")
    anonymous = await env.client.post(API, json=order_body((product, 1)))
    problem(anonymous, 401, "authentication-required")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert await env.order_count() == 0
    assert await env.books.levels(product) == (5, 0)
