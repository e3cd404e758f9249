"""Categories, products and stock through the products API."""

from __future__ import annotations

import asyncpg

from tests.products.conftest import ProductsFixture, plain_url
from tests.support import Databases

API = "/api/v1"


async def test_categories_form_a_tree(products: ProductsFixture) -> None:
    audio = await products.category("Audio & Hi-Fi")
    assert audio["slug"] == "audio-hi-fi"
    headphones = await products.category("Headphones", parent_id=audio["id"])
    assert headphones["parent_id"] == audio["id"]
    listed = (await products.client.get(f"{API}/categories")).json()["items"]
    assert [c["slug"] for c in listed] == ["audio-hi-fi", "headphones"]

    duplicate = await products.client.post(
        f"{API}/categories", json={"name": "Audio & Hi-Fi"}, headers=products.admin
    )
    assert duplicate.status_code == 409
    orphan = await products.client.post(
        f"{API}/categories",
        json={"name": "Lost", "parent_id": "00000000-0000-0000-0000-000000000000"},
        headers=products.admin,
    )
    assert orphan.status_code == 422
    assert orphan.json()["errors"][0]["field"] == "parent_id"


async def test_categories_move_but_never_under_themselves(products: ProductsFixture) -> None:
    root = await products.category("Root")
    child = await products.category("Child", parent_id=root["id"])
    grandchild = await products.category("Grandchild", parent_id=child["id"])
    cycle = await products.client.patch(
        f"{API}/categories/{root['id']}",
        json={"parent_id": grandchild["id"]},
        headers=products.admin,
    )
    assert cycle.status_code == 409
    other = await products.category("Other")
    moved = await products.client.patch(
        f"{API}/categories/{child['id']}", json={"parent_id": other["id"]}, headers=products.admin
    )
    assert moved.status_code == 200
    assert moved.json()["parent_id"] == other["id"]
    renamed = await products.client.patch(
        f"{API}/categories/{other['id']}", json={"name": "Renamed"}, headers=products.admin
    )
    assert renamed.json()["name"] == "Renamed"


async def test_categories_in_use_cannot_be_deleted(
    products: ProductsFixture, databases: Databases
) -> None:
    root = await products.category("Root")
    leaf = await products.category("Leaf", parent_id=root["id"])
    assert (
        await products.client.delete(f"{API}/categories/{root['id']}", headers=products.admin)
    ).status_code == 409
    await products.product(category_id=leaf["id"])
    assert (
        await products.client.delete(f"{API}/categories/{leaf['id']}", headers=products.admin)
    ).status_code == 409
    empty = await products.category("Empty")
    deleted = await products.client.delete(
        f"{API}/categories/{empty['id']}", headers=products.admin
    )
    assert deleted.status_code == 204
    gone = await products.client.delete(f"{API}/categories/{empty['id']}", headers=products.admin)
    assert gone.status_code == 404


async def test_only_admins_write_the_catalog(products: ProductsFixture) -> None:
    body = {"name": "X"}
    assert (await products.client.post(f"{API}/categories", json=body)).status_code == 401
    customer = await products.client.post(f"{API}/categories", json=body, headers=products.customer)
    assert customer.status_code == 403
    product = {"sku": "A", "name": "A", "price": 1}
    assert (await products.client.post(f"{API}/products", json=product)).status_code == 401
    assert (
        await products.client.post(f"{API}/products", json=product, headers=products.customer)
    ).status_code == 403


async def test_create_and_read_a_product(products: ProductsFixture) -> None:
    category = await products.category("Audio")
    created = await products.product(
        sku="WH-1000", category_id=category["id"], initial_stock=7, attributes={"color": "black"}
    )
    assert created["slug"] == "wireless-headphones"
    assert created["currency"] == "USD"
    assert created["available"] == 7
    assert created["version"] == 1
    assert created["images"] == []
    for key in (created["id"], created["slug"]):
        read = await products.client.get(f"{API}/products/{key}")
        assert read.status_code == 200
        assert read.json()["sku"] == "WH-1000"
        assert read.headers["etag"] == '"v1.7"'
    unchanged = await products.client.get(
        f"{API}/products/{created['id']}", headers={"if-none-match": '"v1.7"'}
    )
    assert unchanged.status_code == 304
    assert (await products.client.get(f"{API}/products/no-such-thing")).status_code == 404


async def test_product_validation_and_uniqueness(products: ProductsFixture) -> None:
    await products.product(sku="DUP", slug="taken")
    same_sku = await products.client.post(
        f"{API}/products", json={"sku": "DUP", "name": "Other", "price": 1}, headers=products.admin
    )
    assert same_sku.status_code == 409
    same_slug = await products.client.post(
        f"{API}/products",
        json={"sku": "NEW", "name": "Other", "slug": "taken", "price": 1},
        headers=products.admin,
    )
    assert same_slug.status_code == 409
    # A generated slug steps aside instead of failing.
    first = await products.product(sku="S1", name="Same Name")
    second = await products.product(sku="S2", name="Same Name")
    assert (first["slug"], second["slug"]) == ("same-name", "same-name-2")

    bad_bodies = [
        {"sku": "X", "name": "X", "price": -1},
        {"sku": "X", "name": "X", "price": 1, "unit_price": 5},
        {"sku": "X", "name": "X", "price": 1, "attributes": {"blob": "x" * 20_000}},
        {"sku": "X", "name": "X", "price": 1.5},
        {"sku": "has space", "name": "X", "price": 1},
        {
            "sku": "X",
            "name": "X",
            "price": 1,
            "category_id": "00000000-0000-0000-0000-000000000000",
        },
    ]
    for body in bad_bodies:
        response = await products.client.post(f"{API}/products", json=body, headers=products.admin)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"


async def test_optimistic_concurrency_with_if_match(products: ProductsFixture) -> None:
    created = await products.product()
    url = f"{API}/products/{created['id']}"
    updated = await products.client.patch(
        url, json={"price": 2499}, headers={**products.admin, "if-match": '"v1.7"'}
    )
    assert updated.status_code == 200
    assert updated.json()["price"] == 2499
    assert updated.headers["etag"] == '"v2.0"'
    stale = await products.client.patch(
        url, json={"price": 1}, headers={**products.admin, "if-match": '"v1.7"'}
    )
    assert stale.status_code == 412
    unconditional = await products.client.patch(
        url, json={"name": "Renamed"}, headers=products.admin
    )
    assert unconditional.json()["version"] == 3
    # The read right after a write sees it: the cache never serves the older version.
    assert (await products.client.get(url)).json()["name"] == "Renamed"


async def test_drafts_are_for_admins_and_archived_products_stay_readable(
    products: ProductsFixture,
) -> None:
    draft = await products.product(sku="D", name="Draft", status="draft")
    url = f"{API}/products/{draft['id']}"
    assert (await products.client.get(url)).status_code == 404
    assert (await products.client.get(url, headers=products.admin)).status_code == 200

    live = await products.product(sku="L", name="Live")
    live_url = f"{API}/products/{live['id']}"
    assert (await products.client.get(live_url)).status_code == 200  # now cached
    assert (await products.client.delete(live_url, headers=products.admin)).status_code == 204
    archived = await products.client.get(live_url)
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"


async def test_stock_adjustments_are_bounded_and_recorded(
    products: ProductsFixture, databases: Databases
) -> None:
    created = await products.product(initial_stock=10)
    inventory = f"{API}/products/{created['id']}/inventory"
    levels = (await products.client.get(inventory, headers=products.admin)).json()
    [variant] = created["variants"]
    assert levels == {
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
        "variants": [
            {
                "variant_id": variant["id"],
                "sku": created["sku"],
                "on_hand": 10,
                "reserved": 0,
                "available": 10,
            }
        ],
    }
    connection = await asyncpg.connect(plain_url(databases.urls["products"]))
    try:
        await connection.execute("UPDATE inventory SET reserved = 4")
        adjust = f"{inventory}/adjustments"
        below = await products.client.post(
            adjust, json={"delta": -7, "reason": "stocktake"}, headers=products.admin
        )
        assert below.status_code == 409
        ok = await products.client.post(
            adjust, json={"delta": -6, "reason": "damaged in transit"}, headers=products.admin
        )
        assert {k: ok.json()[k] for k in ("on_hand", "reserved", "available")} == {
            "on_hand": 4,
            "reserved": 4,
            "available": 0,
        }
        assert ok.json()["variants"][0]["available"] == 0
        ledger = await connection.fetch(
            "SELECT on_hand_delta, reason, note, actor FROM stock_movements ORDER BY id"
        )
        assert [(r["on_hand_delta"], r["note"]) for r in ledger] == [
            (10, "initial stock"),
            (-6, "damaged in transit"),
        ]
        assert ledger[1]["actor"].startswith("user:")
    finally:
        await connection.close()
    read = await products.client.get(
        f"{API}/products/{created['id']}", headers={"if-none-match": '"v1.10"'}
    )
    assert read.status_code == 200  # the stock changed, so the old tag no longer matches
    assert read.json()["available"] == 0
    assert read.headers["etag"] == '"v1.0"'
    customer = await products.client.get(inventory, headers=products.customer)
    assert customer.status_code == 403
