"""What the variant search tests share: products with options and variants written
through the API (as an admin would) or straight into the tables, and listings with
repeated query parameters."""

from __future__ import annotations

from typing import Any

from shop.cli.demo import demo_catalog
from tests.products.search_judged import JUDGED_CATALOG_SIZE
from tests.products.search_support import LISTING, Catalog, SearchFixture

API = "/api/v1"
SIZE_COLOR = [
    {"name": "Size", "values": ["S", "M", "L"]},
    {"name": "Color", "values": ["Red", "Blue"]},
]


def variant(sku: str, price: int = 1000, stock: int = 5, **options: str) -> dict[str, Any]:
    return {"sku": sku, "options": options, "price": price, "initial_stock": stock}


async def create(search: SearchFixture, body: dict[str, Any]) -> dict[str, Any]:
    response = await search.client.post(
        f"{API}/products", json={"status": "active", **body}, headers=search.admin
    )
    assert response.status_code == 201, response.text
    await search.catalog.invalidate()  # an engine's index syncs before the next read
    created: dict[str, Any] = response.json()
    return created


async def restock(search: SearchFixture, product_id: str, variant_id: str, delta: int) -> None:
    """A delivery of ``delta`` units of the variant, through the API (asserts a 200)."""
    restocked = await search.client.post(
        f"{API}/products/{product_id}/inventory/adjustments",
        json={"variant_id": variant_id, "delta": delta, "reason": "delivery"},
        headers=search.admin,
    )
    assert restocked.status_code == 200, restocked.text


async def hoodie_tee_mug(search: SearchFixture) -> dict[str, dict[str, Any]]:
    """Hoodie: M/Red and L/Blue. Tee: M/Blue and S/Blue. Mug: no options."""
    hoodie = await create(
        search,
        {
            "sku": "HOOD",
            "name": "Hoodie",
            "options": SIZE_COLOR,
            "variants": [
                variant("HOOD-M-RED", 4200, Size="M", Color="Red"),
                variant("HOOD-L-BLUE", 4500, Size="L", Color="Blue"),
            ],
        },
    )
    tee = await create(
        search,
        {
            "sku": "TEE",
            "name": "Tee",
            "options": SIZE_COLOR,
            "variants": [
                variant("TEE-M-BLUE", 1500, Size="M", Color="Blue"),
                variant("TEE-S-BLUE", 1500, Size="S", Color="Blue"),
            ],
        },
    )
    mug = await create(search, {"sku": "MUG", "name": "Mug", "price": 900})
    return {"hoodie": hoodie, "tee": tee, "mug": mug}


async def names(search: SearchFixture, *params: tuple[str, Any]) -> list[str]:
    """The listing's names, sorted, for query parameters that may repeat."""
    page = await listing(search, *params)
    return sorted(item["name"] for item in page["items"])


async def listing(search: SearchFixture, *params: tuple[str, Any]) -> dict[str, Any]:
    if search.before_read is not None:
        await search.before_read()
    response = await search.client.get(LISTING, params=list(params))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def variant_id(product: dict[str, Any], sku: str) -> str:
    return next(str(v["id"]) for v in product["variants"] if v["sku"] == sku)


async def load_demo_catalog_with_variants(catalog: Catalog) -> None:
    """The judged set's demo catalog with its options and variants, as `shop seed-demo`
    makes them."""
    demo = demo_catalog(JUDGED_CATALOG_SIZE)
    for category in demo.categories:  # parents first
        await catalog.category(category.name, category.slug, parent=category.parent_slug)
    await catalog.products(
        *(
            {
                "sku": product.sku,
                "slug": product.slug,
                "name": product.name,
                "description": product.description,
                "price": product.price,
                "category": product.category_slug,
                "status": product.status,
                "on_hand": product.initial_stock,
                "variants": [
                    {
                        "sku": variant.sku,
                        "options": dict(variant.options),
                        "price": variant.price,
                        "on_hand": variant.initial_stock,
                    }
                    for variant in product.variants
                ],
            }
            for product in demo.products
        )
    )
