"""Shipping methods, tax rates and promotions as an admin manages them, and what an
address is offered and charged (the lookups carts and checkout call)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shop.kit.db import unit_of_work
from shop.orders.pricing import NO_TAX, Tax
from shop.orders.pricing_lookup import offered_method, shipping_options, tax_for
from tests.orders.support import OrdersEnv, User

SHIPPING = "/api/v1/shipping-methods"
TAXES = "/api/v1/tax-rates"
PROMOTIONS = "/api/v1/promotions"
STANDARD = {
    "name": "Standard",
    "countries": ["us", "CA"],
    "price": 799,
    "free_over": 7500,
    "min_days": 3,
    "max_days": 5,
}


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any], admin: User) -> Any:
    response = await client.post(path, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


def _fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


async def test_shipping_methods_are_managed_by_admins_and_listed_to_anyone(env: OrdersEnv) -> None:
    admin, customer = await env.tokens.admin(), await env.tokens.user()
    standard = await _created(env.client, SHIPPING, STANDARD, admin)
    assert standard["countries"] == ["US", "CA"]
    assert standard["active"] is True
    world = await _created(
        env.client,
        SHIPPING,
        {"name": "World", "countries": ["*"], "price": 2500, "min_days": 7, "max_days": 21},
        admin,
    )
    assert world["free_over"] is None

    renamed = await env.client.patch(
        f"{SHIPPING}/{standard['id']}",
        json={"name": "Ground", "free_over": None},
        headers=admin.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["free_over"]) == ("Ground", None)

    # DELETE deactivates: carts and orders may name the method.
    gone = await env.client.delete(f"{SHIPPING}/{world['id']}", headers=admin.headers)
    assert gone.status_code == 204
    public = (await env.client.get(SHIPPING)).json()["items"]
    assert [method["name"] for method in public] == ["Ground"]
    as_customer = (await env.client.get(SHIPPING, headers=customer.headers)).json()["items"]
    assert [method["name"] for method in as_customer] == ["Ground"]
    everything = (await env.client.get(SHIPPING, headers=admin.headers)).json()["items"]
    assert [(m["name"], m["active"]) for m in everything] == [("Ground", True), ("World", False)]

    assert (await env.client.post(SHIPPING, json=STANDARD)).status_code == 401
    assert (
        await env.client.post(SHIPPING, json=STANDARD, headers=customer.headers)
    ).status_code == 403
    missing = await env.client.delete(f"{SHIPPING}/{customer.user_id}", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/shipping-method-not-found")


async def test_lists_are_paged_with_a_cursor(env: OrdersEnv) -> None:
    admin = await env.tokens.admin()
    for number in range(5):
        await _created(env.client, SHIPPING, {**STANDARD, "name": f"Method {number}"}, admin)
    names: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await env.client.get(SHIPPING, params=params)).json()
        names += [method["name"] for method in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == [f"Method {number}" for number in range(5)]
    bad = await env.client.get(SHIPPING, params={"cursor": "nonsense"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"countries": ["XX"]}, "countries"),
        ({"countries": ["*", "US"]}, "countries"),
        ({"countries": ["US", "us"]}, "countries"),
        ({"countries": []}, "countries"),
        ({"price": -1}, "price"),
        ({"price": "799"}, "price"),
        ({"price": 7.99}, "price"),
        ({"min_days": 6}, "max_days"),
        ({"active": 1}, "active"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_a_bad_shipping_method_is_a_422_naming_the_field(
    env: OrdersEnv, change: dict[str, Any], field: str
) -> None:
    admin = await env.tokens.admin()
    response = await env.client.post(SHIPPING, json={**STANDARD, **change}, headers=admin.headers)
    assert field in _fields(response)


async def test_a_patch_is_checked_against_the_stored_values(env: OrdersEnv) -> None:
    admin = await env.tokens.admin()
    method = await _created(env.client, SHIPPING, STANDARD, admin)
    path = f"{SHIPPING}/{method['id']}"
    assert _fields(await env.client.patch(path, json={"min_days": 9}, headers=admin.headers)) == [
        "max_days"
    ]
    assert _fields(await env.client.patch(path, json={"price": None}, headers=admin.headers)) == [
        "price"
    ]


async def test_tax_rates_one_per_country_and_region_the_most_specific_applies(
    env: OrdersEnv,
) -> None:
    admin = await env.tokens.admin()
    await _created(
        env.client, TAXES, {"country": "us", "name": "No federal sales tax", "rate_bp": 0}, admin
    )
    texas = await _created(
        env.client,
        TAXES,
        {"country": "US", "region": "TX", "name": "Texas", "rate_bp": 825},
        admin,
    )
    assert (texas["country"], texas["region"], texas["applies_to_shipping"]) == ("US", "TX", False)
    germany = await _created(
        env.client,
        TAXES,
        {"country": "DE", "name": "MwSt", "rate_bp": 1900, "applies_to_shipping": True},
        admin,
    )
    assert germany["region"] is None

    again = await env.client.post(
        TAXES,
        json={"country": "US", "region": "tx", "name": "Twice", "rate_bp": 1},
        headers=admin.headers,
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/duplicate-tax-rate")
    assert "rate_bp" in _fields(
        await env.client.post(
            TAXES, json={"country": "FR", "name": "TVA", "rate_bp": 10_001}, headers=admin.headers
        )
    )
    assert "country" in _fields(
        await env.client.post(
            TAXES, json={"country": "EU", "name": "No", "rate_bp": 1}, headers=admin.headers
        )
    )
    customer = await env.tokens.user()
    assert (await env.client.get(TAXES, headers=customer.headers)).status_code == 403

    async with unit_of_work(env.app.state.sessionmaker) as session:
        assert await tax_for(session, "US", "tx") == Tax(825)
        assert await tax_for(session, "US", "CA") == Tax(0)
        assert await tax_for(session, "US") == Tax(0)
        assert await tax_for(session, "DE", "BY") == Tax(1900, applies_to_shipping=True)
        assert await tax_for(session, "FR") == NO_TAX

    changed = await env.client.patch(
        f"{TAXES}/{texas['id']}", json={"rate_bp": 625, "region": None}, headers=admin.headers
    )
    assert changed.status_code == 409  # US without a region has its rate already
    changed = await env.client.patch(
        f"{TAXES}/{texas['id']}", json={"rate_bp": 625}, headers=admin.headers
    )
    assert changed.json()["rate_bp"] == 625
    assert (
        await env.client.delete(f"{TAXES}/{texas['id']}", headers=admin.headers)
    ).status_code == 204
    async with unit_of_work(env.app.state.sessionmaker) as session:
        assert await tax_for(session, "US", "TX") == Tax(0)


async def test_shipping_options_for_a_country_are_free_from_free_over(env: OrdersEnv) -> None:
    admin = await env.tokens.admin()
    standard = await _created(env.client, SHIPPING, STANDARD, admin)
    express = await _created(
        env.client,
        SHIPPING,
        {"name": "Express", "countries": ["US"], "price": 1999, "min_days": 1, "max_days": 2},
        admin,
    )
    world = await _created(
        env.client,
        SHIPPING,
        {"name": "World", "countries": ["*"], "price": 2500, "min_days": 7, "max_days": 21},
        admin,
    )
    retired = await _created(env.client, SHIPPING, {**STANDARD, "name": "Old"}, admin)
    await env.client.delete(f"{SHIPPING}/{retired['id']}", headers=admin.headers)

    async with unit_of_work(env.app.state.sessionmaker) as session:
        below = await shipping_options(session, "US", 7499)
        at = await shipping_options(session, "US", 7500)
        germany = await shipping_options(session, "DE", 10_000)
        express_id = uuid.UUID(express["id"])
        assert await offered_method(session, express_id, "US") is not None
        assert await offered_method(session, express_id, "DE") is None
        assert await offered_method(session, uuid.UUID(retired["id"]), "US") is None
    assert [(o.name, o.price) for o in below] == [
        ("Standard", 799),
        ("Express", 1999),
        ("World", 2500),
    ]
    assert [(o.name, o.price) for o in at] == [("Standard", 0), ("Express", 1999), ("World", 2500)]
    assert [(o.name, o.price, o.min_days, o.max_days) for o in germany] == [("World", 2500, 7, 21)]
    assert str(below[0].id) == standard["id"]
    assert str(germany[0].id) == world["id"]
