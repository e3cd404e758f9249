"""A product's options changed after its creation (``PATCH /products/{id}`` with
``options``), through the API on real PostgreSQL: values added, reordered, renamed and
removed, options renamed, added and removed, the variants' options and titles
following in the same transaction; every refusal a 422 naming its field, with
nothing written; ``If-Match`` as for any product change."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shop.products.repositories import variants as variant_queries
from tests.products.conftest import ProductsFixture
from tests.products.test_variants import API, OPTIONS, by_sku, create, hoodie


async def change(
    products: ProductsFixture,
    product: dict[str, Any],
    options: list[dict[str, Any]],
    etag: str | None = None,
) -> httpx.Response:
    headers = {**products.admin, **({"if-match": etag} if etag else {})}
    return await products.client.patch(
        f"{API}/products/{product['id']}", json={"options": options}, headers=headers
    )


async def admin_read(products: ProductsFixture, product: dict[str, Any]) -> dict[str, Any]:
    response = await products.client.get(f"{API}/products/{product['id']}", headers=products.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def shapes(product: dict[str, Any]) -> dict[str, tuple[dict[str, str], str]]:
    return {v["sku"]: (v["options"], v["title"]) for v in product["variants"]}


def refused(response: httpx.Response, kind: str, field: str) -> None:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith(f"/{kind}"), problem
    assert field in [error["field"] for error in problem["errors"]], problem


async def test_values_are_added_reordered_and_renamed_and_the_variants_follow(
    products: ProductsFixture,
) -> None:
    created = await products.client.post(f"{API}/products", json=hoodie(), headers=products.admin)
    assert created.status_code == 201, created.text
    product = created.json()
    public_before = await products.client.get(f"{API}/products/{product['id']}")  # cached now

    changed = await change(
        products,
        product,
        [  # Color first now; Blue added; L renamed XL, XS added in front.
            {"name": "Color", "values": ["Black", "Red", "Blue"]},
            {"name": "Size", "values": ["XS", "S", "M", "XL"], "renamed_values": {"L": "XL"}},
        ],
        etag=created.headers["etag"],
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["options"] == [
        {"name": "Color", "values": ["Black", "Red", "Blue"]},
        {"name": "Size", "values": ["XS", "S", "M", "XL"]},
    ]
    assert shapes(body) == {
        "HOOD-S-RED": ({"Size": "S", "Color": "Red"}, "Red / S"),
        "HOOD-M-RED": ({"Size": "M", "Color": "Red"}, "Red / M"),
        "HOOD-L-BLACK": ({"Size": "XL", "Color": "Black"}, "Black / XL"),
    }
    # Each variant's version moved (its options or title changed), and the product's.
    before = by_sku(product)
    assert all(v["version"] == before[v["sku"]]["version"] + 1 for v in body["variants"])
    assert body["version"] > product["version"]
    assert changed.headers["etag"] != created.headers["etag"]
    assert (body["price"], body["available"]) == (product["price"], product["available"])
    # The cached read is gone; the new values can be sold.
    public = await products.client.get(f"{API}/products/{product['id']}")
    assert public.headers["etag"] != public_before.headers["etag"]
    assert shapes(public.json()) == shapes(body)
    added = await products.client.post(
        f"{API}/products/{product['id']}/variants",
        json={"sku": "HOOD-XS-BLUE", "options": {"Size": "XS", "Color": "Blue"}, "price": 3000},
        headers=products.admin,
    )
    assert added.status_code == 201, added.text
    assert added.json()["title"] == "Blue / XS"

    # The ETag read before the change is stale now.
    stale = await change(products, product, OPTIONS, etag=created.headers["etag"])
    assert stale.status_code == 412, stale.text
    assert stale.json()["type"].endswith("/version-mismatch")
    assert (await admin_read(products, product))["options"] == body["options"]


async def test_values_and_options_swap_and_are_renamed(
    products: ProductsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two active variants trading values pass through each other's combination halfway:
    the change still goes through whole, even written one variant per statement."""
    monkeypatch.setattr(variant_queries, "REWRITE_CHUNK", 1)
    product = await create(products, hoodie())

    swapped = await change(
        products,
        product,
        [
            {"name": "Size", "values": ["S", "M", "L"], "renamed_values": {"S": "M", "M": "S"}},
            OPTIONS[1],
        ],
    )

    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["options"] == OPTIONS
    assert shapes(swapped.json()) == {
        "HOOD-S-RED": ({"Size": "M", "Color": "Red"}, "M / Red"),
        "HOOD-M-RED": ({"Size": "S", "Color": "Red"}, "S / Red"),
        "HOOD-L-BLACK": ({"Size": "L", "Color": "Black"}, "L / Black"),
    }
    renamed = await change(
        products,
        product,
        [OPTIONS[0], {"name": "Colour", "renamed_from": "Color", "values": ["Red", "Black"]}],
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["options"][1] == {"name": "Colour", "values": ["Red", "Black"]}
    assert shapes(renamed.json())["HOOD-S-RED"] == ({"Size": "M", "Colour": "Red"}, "M / Red")
    # Two options trading names: each names the one it renames.
    names_swapped = await change(
        products,
        product,
        [
            {"name": "Colour", "renamed_from": "Size", "values": ["S", "M", "L"]},
            {"name": "Size", "renamed_from": "Colour", "values": ["Red", "Black"]},
        ],
    )
    assert names_swapped.status_code == 200, names_swapped.text
    assert by_sku(names_swapped.json())["HOOD-L-BLACK"]["options"] == {
        "Colour": "L",
        "Size": "Black",
    }
    # The same options again change nothing, not even the version.
    again = await change(products, product, names_swapped.json()["options"])
    assert again.status_code == 200, again.text
    assert again.json()["version"] == names_swapped.json()["version"]


async def test_a_value_is_removed_only_when_no_active_variant_uses_it(
    products: ProductsFixture,
) -> None:
    product = await create(products, hoodie())
    without_l = [{"name": "Size", "values": ["S", "M"]}, OPTIONS[1]]

    in_use = await change(products, product, without_l)

    refused(in_use, "option-value-in-use", "options.0.values")
    assert "HOOD-L-BLACK" in in_use.json()["errors"][0]["message"]
    read = await admin_read(products, product)
    assert (read["options"], read["version"]) == (OPTIONS, product["version"])

    # Archived, the variant keeps its options and title as they were (its history)...
    large = by_sku(product)["HOOD-L-BLACK"]["id"]
    variant_url = f"{API}/products/{product['id']}/variants/{large}"
    archived = await products.client.delete(variant_url, headers=products.admin)
    assert archived.status_code == 204
    removed = await change(products, product, without_l)
    assert removed.status_code == 200, removed.text
    assert removed.json()["options"][0] == {"name": "Size", "values": ["S", "M"]}
    assert shapes(removed.json())["HOOD-L-BLACK"] == ({"Size": "L", "Color": "Black"}, "L / Black")
    # ... and comes back only once its value is declared again.
    back = await products.client.patch(
        variant_url, json={"status": "active"}, headers=products.admin
    )
    assert back.status_code == 422, back.text
    assert back.json()["type"].endswith("/invalid-variant")
    redeclared = await change(products, product, OPTIONS)
    assert redeclared.status_code == 200, redeclared.text
    back = await products.client.patch(
        variant_url, json={"status": "active"}, headers=products.admin
    )
    assert back.status_code == 200, back.text


async def test_a_new_option_gives_every_variant_its_initial_value(
    products: ProductsFixture,
) -> None:
    product = await create(products, hoodie())
    archived = await products.client.delete(
        f"{API}/products/{product['id']}/variants/{by_sku(product)['HOOD-S-RED']['id']}",
        headers=products.admin,
    )
    assert archived.status_code == 204
    material = {"name": "Material", "values": ["Cotton", "Wool"]}

    without_value = await change(products, product, [*OPTIONS, material])
    refused(without_value, "invalid-options", "options.2.initial_value")

    added = await change(products, product, [*OPTIONS, {**material, "initial_value": "Wool"}])

    assert added.status_code == 200, added.text
    assert added.json()["options"][2] == material
    assert shapes(added.json()) == {  # archived ones too: they may come back
        "HOOD-S-RED": ({"Size": "S", "Color": "Red", "Material": "Wool"}, "S / Red / Wool"),
        "HOOD-M-RED": ({"Size": "M", "Color": "Red", "Material": "Wool"}, "M / Red / Wool"),
        "HOOD-L-BLACK": (
            {"Size": "L", "Color": "Black", "Material": "Wool"},
            "L / Black / Wool",
        ),
    }
    # A product without options gets its first: its one variant takes the value.
    mug = await products.product(sku="MUG", slug="mug", price=900)
    sized = await change(
        products, mug, [{"name": "Size", "values": ["Small", "Large"], "initial_value": "Large"}]
    )
    assert sized.status_code == 200, sized.text
    assert shapes(sized.json()) == {"MUG": ({"Size": "Large"}, "Large")}


async def test_an_option_is_removed_only_when_the_active_variants_stay_distinct(
    products: ProductsFixture,
) -> None:
    product = await create(products, hoodie())
    sizes_only = [OPTIONS[0]]

    removed = await change(products, product, sizes_only)  # S, M and L stay apart

    assert removed.status_code == 200, removed.text
    assert removed.json()["options"] == sizes_only
    assert shapes(removed.json())["HOOD-M-RED"] == ({"Size": "M"}, "M")

    tee = await create(
        products,
        hoodie(
            sku="TEE",
            slug="tee",
            variants=[
                {"sku": "TEE-M-RED", "options": {"Size": "M", "Color": "Red"}, "price": 1},
                {"sku": "TEE-M-BLACK", "options": {"Size": "M", "Color": "Black"}, "price": 2},
                {"sku": "TEE-L-RED", "options": {"Size": "L", "Color": "Red"}, "price": 3},
            ],
        ),
    )
    collides = await change(products, tee, sizes_only)
    refused(collides, "variants-would-collide", "options")
    assert "TEE-M-RED and TEE-M-BLACK" in collides.json()["detail"]
    read = await admin_read(products, tee)
    assert (read["options"], read["version"], shapes(read)) == (
        OPTIONS,
        tee["version"],
        shapes(tee),
    )
    # An archived variant may share its combination with an active one.
    archived = await products.client.delete(
        f"{API}/products/{tee['id']}/variants/{by_sku(tee)['TEE-M-BLACK']['id']}",
        headers=products.admin,
    )
    assert archived.status_code == 204
    removed = await change(products, tee, sizes_only)
    assert removed.status_code == 200, removed.text
    assert by_sku(removed.json())["TEE-M-BLACK"]["options"] == {"Size": "M"}

    # Every option removed: only a single active variant can do without.
    none = await change(products, tee, [])
    refused(none, "variants-would-collide", "options")
    assert "would both have no options" in none.json()["detail"]
    archived = await products.client.delete(
        f"{API}/products/{tee['id']}/variants/{by_sku(tee)['TEE-L-RED']['id']}",
        headers=products.admin,
    )
    assert archived.status_code == 204
    none = await change(products, tee, [])
    assert none.status_code == 200, none.text
    assert none.json()["options"] == []
    assert shapes(none.json())["TEE-M-RED"] == ({}, "")
    # It is a single-variant product now: its price is the product's.
    repriced = await products.client.patch(
        f"{API}/products/{tee['id']}", json={"price": 700}, headers=products.admin
    )
    assert repriced.status_code == 200, repriced.text
    assert by_sku(repriced.json())["TEE-M-RED"]["price"] == 700


async def test_changes_that_name_what_is_not_there_are_refused_whole(
    products: ProductsFixture,
) -> None:
    product = await create(products, hoodie())
    size, color = OPTIONS
    business = {  # (options, problem type, field)
        "unknown option renamed": (
            [{**size, "name": "Fit", "renamed_from": "Fits"}, color],
            "invalid-options",
            "options.0.renamed_from",
        ),
        "option changed twice": (
            [{**size, "name": "Fit", "renamed_from": "Size"}, {**size}],
            "invalid-options",
            "options.1",
        ),
        "unknown value renamed": (
            [{**size, "values": ["S", "M", "L", "XL"], "renamed_values": {"XXL": "XL"}}, color],
            "invalid-options",
            "options.0.renamed_values",
        ),
        "two values become one": (
            [{**size, "values": ["S", "M"], "renamed_values": {"L": "M"}}, color],
            "invalid-options",
            "options.0.renamed_values",
        ),
        "initial value of a kept option": (
            [{**size, "initial_value": "S"}, color],
            "invalid-options",
            "options.0.initial_value",
        ),
    }
    for case, (options, kind, field) in business.items():
        response = await change(products, product, options)
        assert response.status_code == 422, (case, response.text)
        refused(response, kind, field)
    malformed = {  # refused by the body's validation
        "names twice": [size, {**color, "name": "Size"}],
        "value twice": [{**size, "values": ["S", "S"]}, color],
        "renamed to an undeclared value": [{**size, "renamed_values": {"L": "XL"}}, color],
        "initial value undeclared": [
            size,
            color,
            {"name": "Fit", "values": ["Slim"], "initial_value": "Loose"},
        ],
        "four options": [size, color, {**size, "name": "A"}, {**size, "name": "B"}],
        "no values": [{**size, "values": []}, color],
        "unknown field": [{**size, "rename": "Fit"}, color],
    }
    for case, options in malformed.items():
        response = await change(products, product, options)
        assert response.status_code == 422, (case, response.text)
        assert response.json()["errors"][0]["field"].startswith("options"), (case, response.text)
    read = await admin_read(products, product)
    assert (read["options"], read["version"], shapes(read)) == (
        OPTIONS,
        product["version"],
        shapes(product),
    )
