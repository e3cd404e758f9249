"""The shipping, tax and promotion routes through the gateway, over real HTTP, to the
real orders service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.orders.support import Tokens, behind_gateway, orders_settings, truncate_orders
from tests.support import Databases


@pytest.fixture
async def gateway(
    databases: Databases, tokens: Tokens, tmp_path: Path, products_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = orders_settings(databases, tokens, tmp_path / "orders", products_url)
    try:
        async with behind_gateway(settings, products_url, tokens, read_seconds=15) as client:
            yield client
    finally:
        await truncate_orders(databases)


async def test_shipping_taxes_and_promotions_through_the_gateway(
    gateway: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = (await tokens.admin()).headers
    method = await gateway.post(
        "/shipping-methods",
        json={"name": "Standard", "countries": ["*"], "price": 499, "min_days": 2, "max_days": 4},
        headers=admin,
    )
    assert method.status_code == 201, method.text
    listed = await gateway.get("/shipping-methods")  # anyone
    assert [m["id"] for m in listed.json()["items"]] == [method.json()["id"]]
    changed = await gateway.patch(
        f"/shipping-methods/{method.json()['id']}", json={"free_over": 5000}, headers=admin
    )
    assert changed.json()["free_over"] == 5000

    rate = await gateway.post(
        "/tax-rates", json={"country": "DE", "name": "MwSt", "rate_bp": 1900}, headers=admin
    )
    assert rate.status_code == 201, rate.text
    assert [
        r["rate_bp"] for r in (await gateway.get("/tax-rates", headers=admin)).json()["items"]
    ] == [1900]
    assert (await gateway.get("/tax-rates")).status_code == 401
    assert (
        await gateway.delete(f"/tax-rates/{rate.json()['id']}", headers=admin)
    ).status_code == 204

    promotion = await gateway.post(
        "/promotions", json={"code": "WELCOME", "kind": "fixed", "value": 500}, headers=admin
    )
    assert promotion.status_code == 201, promotion.text
    duplicate = await gateway.post(
        "/promotions", json={"code": "welcome", "kind": "free_shipping"}, headers=admin
    )
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    bad = await gateway.post(
        "/promotions", json={"code": "HALF", "kind": "percentage", "value": 150}, headers=admin
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["value"]
    gone = await gateway.delete(f"/promotions/{promotion.json()['id']}", headers=admin)
    assert gone.status_code == 204
    shown = await gateway.get(f"/promotions/{promotion.json()['id']}", headers=admin)
    assert shown.json()["active"] is False
