"""``GET /inventory/low-stock``: the variants that may run out, fewest first, for the
dashboard's overview; admins only, paged with cursors."""

from __future__ import annotations

from typing import Any

from tests.products.conftest import ProductsFixture
from tests.products.test_variants import hoodie

URL = "/api/v1/inventory/low-stock"


async def low_stock(products: ProductsFixture, **params: Any) -> dict[str, Any]:
    response = await products.client.get(URL, params=params, headers=products.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_lists_the_variants_at_or_under_the_threshold_fewest_first(
    products: ProductsFixture,
) -> None:
    created = await products.client.post("/api/v1/products", json=hoodie(), headers=products.admin)
    assert created.status_code == 201, created.text
    by_sku = {variant["sku"]: variant for variant in created.json()["variants"]}
    await products.product(sku="PLENTY", name="Plenty", initial_stock=100)
    archived = await products.product(sku="GONE", name="Gone", initial_stock=0)
    await products.client.delete(f"/api/v1/products/{archived['id']}", headers=products.admin)
    draft = await products.product(sku="DRAFT", name="Draft", status="draft", initial_stock=1)

    body = await low_stock(products, threshold=2)

    # S has none, the draft one, L two; M (5), the plenty product and the archived
    # product's variant are not listed.
    assert [item["sku"] for item in body["items"]] == ["HOOD-S-RED", "DRAFT", "HOOD-L-BLACK"]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first == {
        "product_id": created.json()["id"],
        "product_name": "Hoodie",
        "product_status": "active",
        "variant_id": by_sku["HOOD-S-RED"]["id"],
        "sku": "HOOD-S-RED",
        "title": "S / Red",
        "on_hand": 0,
        "reserved": 0,
        "available": 0,
    }
    assert body["items"][1]["product_id"] == draft["id"]
    assert body["items"][1]["product_status"] == "draft"

    # An archived variant is no longer something to restock.
    product_id = created.json()["id"]
    archive = await products.client.delete(
        f"/api/v1/products/{product_id}/variants/{by_sku['HOOD-S-RED']['id']}",
        headers=products.admin,
    )
    assert archive.status_code in (200, 204), archive.text
    assert [item["sku"] for item in (await low_stock(products, threshold=2))["items"]] == [
        "DRAFT",
        "HOOD-L-BLACK",
    ]


async def test_pages_walk_every_low_variant_once(products: ProductsFixture) -> None:
    for n in range(7):
        await products.product(sku=f"LOW-{n}", name=f"Low {n}", initial_stock=n % 3)

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"threshold": 5, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = await low_stock(products, **params)
        assert len(body["items"]) <= 3
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert sorted(item["sku"] for item in seen) == [f"LOW-{n}" for n in range(7)]
    assert len({item["variant_id"] for item in seen}) == 7
    availability = [item["available"] for item in seen]
    assert availability == sorted(availability)


async def test_only_admins_ask_and_bad_parameters_are_problems(
    products: ProductsFixture,
) -> None:
    customer = await products.client.get(URL, headers=products.customer)
    assert customer.status_code == 403
    assert (await products.client.get(URL)).status_code == 401
    for params in ({"threshold": -1}, {"limit": 0}, {"limit": 101}, {"threshold": "x"}):
        response = await products.client.get(URL, params=params, headers=products.admin)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")
    bad_cursor = await products.client.get(
        URL, params={"cursor": "not-a-cursor"}, headers=products.admin
    )
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["type"].endswith("/invalid-cursor")
