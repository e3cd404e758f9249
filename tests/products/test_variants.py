"""Options and variants through the products API: creation (and its single-variant
shorthand), the rules a variant's options follow, adding, changing and archiving
variants, stock per variant, and the product's derived price, stock and ETag."""

from __future__ import annotations

from typing import Any

from tests.products.conftest import ProductsFixture

API = "/api/v1"
OPTIONS = [
    {"name": "Size", "values": ["S", "M", "L"]},
    {"name": "Color", "values": ["Red", "Black"]},
]


def hoodie(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": "HOOD",
        "name": "Hoodie",
        "status": "active",
        "options": OPTIONS,
        "variants": [
            {"sku": "HOOD-S-RED", "options": {"Size": "S", "Color": "Red"}, "price": 3900},
            {
                "sku": "HOOD-M-RED",
                "options": {"Color": "Red", "Size": "M"},
                "price": 4200,
                "compare_at_price": 5000,
                "initial_stock": 5,
                "weight_grams": 450,
            },
            {
                "sku": "HOOD-L-BLACK",
                "options": {"Size": "L", "Color": "Black"},
                "price": 4500,
                "initial_stock": 2,
            },
        ],
    }
    body.update(fields)
    return body


async def create(products: ProductsFixture, body: dict[str, Any]) -> dict[str, Any]:
    response = await products.client.post(f"{API}/products", json=body, headers=products.admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def by_sku(product: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variant["sku"]: variant for variant in product["variants"]}


async def test_a_product_is_created_with_options_and_variants(products: ProductsFixture) -> None:
    created = await create(products, hoodie())

    assert created["options"] == OPTIONS
    variants = by_sku(created)
    assert [v["sku"] for v in created["variants"]] == ["HOOD-S-RED", "HOOD-M-RED", "HOOD-L-BLACK"]
    medium = variants["HOOD-M-RED"]
    assert medium["title"] == "M / Red"  # in the options' order, whatever the body's
    assert medium["options"] == {"Size": "M", "Color": "Red"}
    assert (medium["price"], medium["compare_at_price"], medium["weight_grams"]) == (
        4200,
        5000,
        450,
    )
    assert (medium["available"], medium["status"], medium["image_id"]) == (5, "active", None)
    assert variants["HOOD-S-RED"]["available"] == 0
    # Derived: the lowest active price, the stock of every active variant.
    assert (created["price"], created["available"]) == (3900, 7)

    read = await products.client.get(f"{API}/products/{created['slug']}")
    assert read.status_code == 200
    assert read.json()["variants"] == created["variants"]


async def test_a_product_without_variants_gets_one_default_variant(
    products: ProductsFixture,
) -> None:
    created = await products.product(sku="MUG-1", price=1250, initial_stock=4)

    assert created["options"] == []
    [variant] = created["variants"]
    assert {k: variant[k] for k in ("sku", "title", "options", "price", "available")} == {
        "sku": "MUG-1",
        "title": "",
        "options": {},
        "price": 1250,
        "available": 4,
    }
    # Its price and SKU follow the product's.
    changed = await products.client.patch(
        f"{API}/products/{created['id']}",
        json={"price": 1500, "sku": "MUG-2"},
        headers=products.admin,
    )
    assert changed.status_code == 200, changed.text
    [variant] = changed.json()["variants"]
    assert (changed.json()["price"], variant["price"], variant["sku"]) == (1500, 1500, "MUG-2")


async def test_options_and_variants_that_do_not_fit_are_refused_whole(
    products: ProductsFixture,
) -> None:
    medium_red = {"Size": "M", "Color": "Red"}
    cases = {
        "undeclared value": hoodie(
            variants=[{"sku": "X-1", "options": {"Size": "XXL", "Color": "Red"}, "price": 1}]
        ),
        "missing option": hoodie(variants=[{"sku": "X-1", "options": {"Size": "M"}, "price": 1}]),
        "same combination": hoodie(
            variants=[
                {"sku": "X-1", "options": medium_red, "price": 1},
                {"sku": "X-2", "options": medium_red, "price": 2},
            ]
        ),
        "price with variants": hoodie(price=100),
        "options without variants": {"sku": "X", "name": "X", "price": 1, "options": OPTIONS},
        "no price at all": {"sku": "X", "name": "X"},
        "four options": hoodie(
            options=[{"name": n, "values": ["a"]} for n in ("A", "B", "C", "D")],
            variants=[
                {"sku": "X-1", "options": {"A": "a", "B": "a", "C": "a", "D": "a"}, "price": 1}
            ],
        ),
    }
    for case, body in cases.items():
        response = await products.client.post(f"{API}/products", json=body, headers=products.admin)
        assert response.status_code == 422, (case, response.text)
        assert response.headers["content-type"] == "application/problem+json"

    await create(products, hoodie())
    # A variant SKU is unique across the catalog: nothing of the second product is kept.
    taken = hoodie(
        sku="OTHER",
        slug="other",
        variants=[
            {"sku": "OTHER-1", "options": medium_red, "price": 1},
            {"sku": "HOOD-M-RED", "options": {"Size": "S", "Color": "Red"}, "price": 1},
        ],
    )
    duplicate = await products.client.post(f"{API}/products", json=taken, headers=products.admin)
    assert duplicate.status_code == 409, duplicate.text
    assert (await products.client.get(f"{API}/products/other")).status_code == 404
    # Its other SKU was not kept either.
    again = hoodie(
        sku="OTHER", slug="other", variants=[{"sku": "OTHER-1", "options": medium_red, "price": 1}]
    )
    assert (
        await products.client.post(f"{API}/products", json=again, headers=products.admin)
    ).status_code == 201


async def test_a_refused_product_names_each_field_at_fault(products: ProductsFixture) -> None:
    """Every problem of the body at once, each at its path, so a form can show each
    message next to its input."""
    body = hoodie(
        price=100,
        variants=[
            {"sku": "X-1", "options": {"Size": "M", "Color": "Red"}, "price": 1},
            {"sku": "X-2", "options": {"Size": "XXL", "Color": "Red"}, "price": 1},
            {"sku": "X-3", "options": {"Size": "S"}, "price": 1},
            {"sku": "X-4", "options": {"Size": "S", "Color": "Red", "Fit": "Slim"}, "price": 1},
            {"sku": "X-5", "options": {"Color": "Red", "Size": "M"}, "price": 1},
        ],
    )
    response = await products.client.post(f"{API}/products", json=body, headers=products.admin)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["type"], problem["title"]) == (
        "https://shop.dev/problems/validation",
        "Validation failed",
    )
    assert {e["field"]: e["message"] for e in problem["errors"]} == {
        "price": "price is derived from the variants; give each variant its price",
        "variants.1.options.Size": "'XXL' is not a declared value of option 'Size'",
        "variants.2.options.Color": "a value of option 'Color' is required",
        "variants.3.options.Fit": "'Fit' is not an option (Size, Color)",
        "variants.4.options": "another variant has the combination 'M / Red'",
    }

    options = [{"name": "Size", "values": ["S", "M", "S"]}, {"name": "Size", "values": ["L"]}]
    wrong_options = hoodie(
        options=options, variants=[{"sku": "X-1", "options": {"Size": "S"}, "price": 1}]
    )
    response = await products.client.post(
        f"{API}/products", json=wrong_options, headers=products.admin
    )
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == [
        ("options.0.values", "'S' listed more than once"),
        ("options.1.name", "another option is named 'Size'"),
    ]

    no_price = {"sku": "X", "name": "X", "options": OPTIONS}
    response = await products.client.post(f"{API}/products", json=no_price, headers=products.admin)
    assert [e["field"] for e in response.json()["errors"]] == ["price", "options"]


async def test_a_taken_sku_or_slug_is_named_in_the_conflict(products: ProductsFixture) -> None:
    first = await create(products, hoodie())
    again = hoodie(
        slug=first["slug"],
        variants=[
            {"sku": "NEW-1", "options": {"Size": "S", "Color": "Red"}, "price": 1},
            {"sku": "HOOD-M-RED", "options": {"Size": "M", "Color": "Red"}, "price": 1},
            {"sku": "NEW-1", "options": {"Size": "L", "Color": "Red"}, "price": 1},
        ],
    )
    response = await products.client.post(f"{API}/products", json=again, headers=products.admin)
    assert response.status_code == 409, response.text
    assert {e["field"]: e["message"] for e in response.json()["errors"]} == {
        "sku": "another product already has this SKU",
        "slug": "another product already has this slug",
        "variants.1.sku": "another variant has this SKU",
        "variants.2.sku": "a variant above has this SKU",
    }
    # A product without variants: its SKU is its default variant's.
    plain = {"sku": "HOOD-S-RED", "name": "Plain", "price": 100}
    response = await products.client.post(f"{API}/products", json=plain, headers=products.admin)
    assert response.status_code == 409, response.text
    assert response.json()["errors"] == [
        {"field": "sku", "message": "another variant has this SKU"}
    ]


async def test_variants_are_added_changed_and_archived(products: ProductsFixture) -> None:
    product = await create(products, hoodie())
    url = f"{API}/products/{product['id']}/variants"

    added = await products.client.post(
        url,
        json={"sku": "HOOD-S-BLACK", "options": {"Size": "S", "Color": "Black"}, "price": 3500},
        headers=products.admin,
    )
    assert added.status_code == 201, added.text
    assert added.json()["title"] == "S / Black"
    assert added.headers["location"] == f"{url}/{added.json()['id']}"
    for refused, field in (
        ({"sku": "HOOD-S-BLUE", "options": {"Size": "S", "Color": "Blue"}, "price": 1}, "Color"),
        ({"sku": "HOOD-S-RED-2", "options": {"Size": "S", "Color": "Red"}, "price": 1}, ""),
    ):
        response = await products.client.post(url, json=refused, headers=products.admin)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "options" + (f".{field}" if field else "")
    dup = {"sku": "HOOD-M-RED", "options": {"Size": "M", "Color": "Black"}, "price": 1}
    assert (await products.client.post(url, json=dup, headers=products.admin)).status_code == 409

    read = (await products.client.get(f"{API}/products/{product['id']}")).json()
    assert read["price"] == 3500  # the new lowest
    assert read["version"] > product["version"]

    variant = added.json()
    changed = await products.client.patch(
        f"{url}/{variant['id']}",
        json={"price": 5500},
        headers={**products.admin, "if-match": added.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["price"] == 5500
    assert changed.headers["etag"] != added.headers["etag"]
    stale = await products.client.patch(
        f"{url}/{variant['id']}",
        json={"price": 1},
        headers={**products.admin, "if-match": added.headers["etag"]},
    )
    assert stale.status_code == 412
    read = (await products.client.get(f"{API}/products/{product['id']}")).json()
    assert read["price"] == 3900

    # Archived: gone from what customers see, kept for admins; the last one stays.
    cheapest = by_sku(product)["HOOD-S-RED"]
    assert (
        await products.client.delete(f"{url}/{cheapest['id']}", headers=products.admin)
    ).status_code == 204
    public = (await products.client.get(f"{API}/products/{product['id']}")).json()
    assert "HOOD-S-RED" not in by_sku(public)
    assert public["price"] == 4200
    admin = await products.client.get(f"{API}/products/{product['id']}", headers=products.admin)
    assert by_sku(admin.json())["HOOD-S-RED"]["status"] == "archived"
    for sku in ("HOOD-M-RED", "HOOD-L-BLACK"):
        gone = await products.client.delete(
            f"{url}/{by_sku(product)[sku]['id']}", headers=products.admin
        )
        assert gone.status_code == 204
    last = await products.client.delete(f"{url}/{variant['id']}", headers=products.admin)
    assert last.status_code == 409
    assert last.json()["type"].endswith("/last-active-variant")
    # The product's price is derived: only a variant's can be changed.
    derived = await products.client.patch(
        f"{API}/products/{product['id']}", json={"price": 10}, headers=products.admin
    )
    assert derived.status_code == 422


async def test_stock_is_kept_and_adjusted_per_variant(products: ProductsFixture) -> None:
    product = await create(products, hoodie())
    variants = by_sku(product)
    inventory = f"{API}/products/{product['id']}/inventory"

    levels = (await products.client.get(inventory, headers=products.admin)).json()
    assert (levels["on_hand"], levels["available"]) == (7, 7)
    assert {(v["sku"], v["on_hand"]) for v in levels["variants"]} == {
        ("HOOD-S-RED", 0),
        ("HOOD-M-RED", 5),
        ("HOOD-L-BLACK", 2),
    }

    unnamed = await products.client.post(
        f"{inventory}/adjustments", json={"delta": 3, "reason": "delivery"}, headers=products.admin
    )
    assert unnamed.status_code == 422
    assert unnamed.json()["type"].endswith("/variant-required")
    small = variants["HOOD-S-RED"]["id"]
    adjusted = await products.client.post(
        f"{inventory}/adjustments",
        json={"delta": 3, "reason": "delivery", "variant_id": small},
        headers=products.admin,
    )
    assert adjusted.status_code == 200, adjusted.text
    assert adjusted.json()["on_hand"] == 10
    assert {v["sku"]: v["on_hand"] for v in adjusted.json()["variants"]}["HOOD-S-RED"] == 3
    foreign = await create(products, {"sku": "MUG", "name": "Mug", "price": 1, "status": "active"})
    elsewhere = await products.client.post(
        f"{API}/products/{foreign['id']}/inventory/adjustments",
        json={"delta": 1, "reason": "x", "variant_id": small},
        headers=products.admin,
    )
    assert elsewhere.status_code == 404
    # A single-variant product needs no variant_id.
    single = await products.client.post(
        f"{API}/products/{foreign['id']}/inventory/adjustments",
        json={"delta": 2, "reason": "delivery"},
        headers=products.admin,
    )
    assert single.json()["available"] == 2


async def test_a_variant_change_changes_the_products_etag_and_cached_reads(
    products: ProductsFixture,
) -> None:
    product = await create(products, hoodie())
    url = f"{API}/products/{product['id']}"
    medium = by_sku(product)["HOOD-M-RED"]
    first = await products.client.get(url)
    assert (await products.client.get(url)).headers["etag"] == first.headers["etag"]  # cached

    repriced = await products.client.patch(
        f"{url}/variants/{medium['id']}", json={"price": 1000}, headers=products.admin
    )
    assert repriced.status_code == 200
    second = await products.client.get(url, headers={"if-none-match": first.headers["etag"]})
    assert second.status_code == 200
    assert second.json()["price"] == 1000
    assert by_sku(second.json())["HOOD-M-RED"]["price"] == 1000
    tag = second.headers["etag"]
    assert (await products.client.get(url, headers={"if-none-match": tag})).status_code == 304

    # Units moving between variants leave the sum alone but not the ETag.
    small = by_sku(product)["HOOD-S-RED"]["id"]
    for variant_id, delta in ((small, 1), (medium["id"], -1)):
        response = await products.client.post(
            f"{url}/inventory/adjustments",
            json={"delta": delta, "reason": "recount", "variant_id": variant_id},
            headers=products.admin,
        )
        assert response.status_code == 200, response.text
    third = await products.client.get(url, headers={"if-none-match": tag})
    assert third.status_code == 200
    assert third.json()["available"] == second.json()["available"]
    assert by_sku(third.json())["HOOD-S-RED"]["available"] == 1
    assert third.headers["etag"] != tag
