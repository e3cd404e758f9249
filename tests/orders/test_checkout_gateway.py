"""Carts and checkout end to end through the gateway, over real HTTP, to the real orders
and products services: a signed-in checkout with a shipping method, a tax rate and a
code; a guest checkout where MANUAL_PAYMENTS_FOR_GUESTS is true, refused where not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.orders.support import Tokens, behind_gateway, orders_settings, truncate_orders
from tests.orders.test_priced_orders import TEXAS
from tests.products.reservation_support import Books
from tests.support import Databases

Gateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def gateway(
    databases: Databases, tokens: Tokens, tmp_path: Path, products_url: str, books: Books
) -> AsyncIterator[Gateway]:
    """``async with gateway(**orders_settings) as client``: the system behind the gateway."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = orders_settings(
            databases, tokens, tmp_path / "orders", products_url, **overrides
        )
        async with behind_gateway(settings, products_url, tokens, read_seconds=30) as client:
            yield client

    try:
        yield running
    finally:
        await truncate_orders(databases)


async def _ready_cart(
    client: httpx.AsyncClient, headers: dict[str, str], lines: list[dict[str, Any]], **extra: Any
) -> str:
    created = await client.post("/carts", json=extra.pop("create", {}), headers=headers)
    assert created.status_code == 201, created.text
    cart_id: str = created.json()["id"]
    for line in lines:
        added = await client.post(f"/carts/{cart_id}/items", json=line, headers=headers)
        assert added.status_code == 200, added.text
    steps = [
        ("PUT", "shipping-address", TEXAS),
        ("PUT", "shipping-method", {"shipping_method_id": extra["method_id"]}),
    ]
    if "code" in extra:
        steps.append(("POST", "promotions", {"code": extra["code"]}))
    for method, path, body in steps:
        answer = await client.request(
            method, f"/carts/{cart_id}/{path}", json=body, headers=headers
        )
        assert answer.status_code == 200, answer.text
    return cart_id


async def _pricing(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    method = await client.post(
        "/shipping-methods",
        json={
            "name": "Ground",
            "countries": ["US"],
            "price": 799,
            "free_over": 7500,
            "min_days": 3,
            "max_days": 5,
        },
        headers=admin,
    )
    rate = await client.post(
        "/tax-rates",
        json={"country": "US", "region": "TX", "name": "Texas", "rate_bp": 825},
        headers=admin,
    )
    code = await client.post(
        "/promotions", json={"code": "TEN", "kind": "percentage", "value": 10}, headers=admin
    )
    for answer in (method, rate, code):
        assert answer.status_code == 201, answer.text
    method_id: str = method.json()["id"]
    return method_id


async def test_a_signed_in_checkout_through_the_gateway(
    gateway: Gateway, tokens: Tokens, books: Books
) -> None:
    headphones = await books.product(10, price=1999, name="Headphones")
    cable = await books.product(10, price=1250, name="Cable")
    user = await tokens.user()
    async with gateway() as client:
        method_id = await _pricing(client, (await tokens.admin()).headers)
        lines = [
            {"product_id": str(headphones), "quantity": 2},
            {"product_id": str(cable), "quantity": 1},
        ]
        cart_id = await _ready_cart(client, user.headers, lines, method_id=method_id, code="TEN")

        response = await client.post(
            f"/carts/{cart_id}/checkout",
            json={"payment_provider": "manual"},
            headers={**user.headers, "Idempotency-Key": "gw-1"},
        )

        assert response.status_code == 201, response.text
        order = response.json()
        figures = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")
        assert [order[name] for name in figures] == [5248, 525, 799, 390, 5912]
        read = await client.get(f"/orders/{order['id']}", headers=user.headers)
        assert read.json() == order
        cart = await client.get(f"/carts/{cart_id}", headers=user.headers)
        assert cart.json()["status"] == "completed"


async def test_a_guest_checkout_through_the_gateway_only_where_allowed(
    gateway: Gateway, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    line = [{"product_id": str(product), "quantity": 1}]
    async with gateway() as client:
        method_id = await _pricing(client, (await tokens.admin()).headers)
        cart_id = await _ready_cart(
            client, {}, line, method_id=method_id, create={"email": "guest@example.com"}
        )
        refused = await client.post(f"/carts/{cart_id}/checkout")
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["payment_provider"]

    async with gateway(manual_payments_for_guests=True) as client:
        placed = await client.post(f"/carts/{cart_id}/checkout")
        assert placed.status_code == 201, placed.text
        order = placed.json()
        token = order.pop("order_token")
        read = await client.get(f"/orders/{order['id']}", headers={"X-Order-Token": token})
        assert read.status_code == 200, read.text
        assert read.json() == order
        assert order["email"] == "guest@example.com"
        without = await client.get(f"/orders/{order['id']}", headers={"X-Order-Token": "no"})
        assert without.status_code == 404
