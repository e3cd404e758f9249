"""A change of a product's options seen by search: after a rename, option filters and
facets find the new name and value and no longer the old ones, on PostgreSQL (the
products row's option pairs, kept by its triggers, and the variants) and on a search
engine (the product re-indexed through the outbox)."""

from __future__ import annotations

from typing import Any

from tests.products.search_engines import EngineIndex, engine_index
from tests.products.search_node import opensearch_url
from tests.products.search_support import (
    LISTING,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)
from tests.products.test_search_engines import _reindexed, engine_search, eventually
from tests.products.variant_support import (
    API,
    SIZE_COLOR,
    create,
    hoodie_tee_mug,
    listing,
    names,
    variant,
)

__all__ = [  # fixtures
    "engine_index",
    "engine_search",
    "opensearch_url",
    "search",
    "search_catalog",
    "search_tokens",
]

# Size's L becomes XL, Color becomes Colour.
RENAMED = [
    {"name": "Size", "values": ["S", "M", "XL"], "renamed_values": {"L": "XL"}},
    {"name": "Colour", "renamed_from": "Color", "values": ["Red", "Blue"]},
]


async def rename(search: SearchFixture, product: dict[str, Any]) -> None:
    response = await search.client.patch(
        f"{API}/products/{product['id']}", json={"options": RENAMED}, headers=search.admin
    )
    assert response.status_code == 200, response.text


async def test_a_rename_is_found_by_its_new_name_on_postgres(search: SearchFixture) -> None:
    made = await hoodie_tee_mug(search)  # Hoodie: M/Red, L/Blue; Tee: M/Blue, S/Blue
    assert await names(search, ("option.Size", "L")) == ["Hoodie"]

    await rename(search, made["hoodie"])

    assert await names(search, ("option.Size", "XL")) == ["Hoodie"]
    assert await names(search, ("option.Size", "L")) == []
    assert await names(search, ("option.Colour", "Blue"), ("option.Size", "XL")) == ["Hoodie"]
    assert await names(search, ("option.Color", "Blue")) == ["Tee"]  # the tee keeps its name
    assert await names(search, ("option.Colour", "Blue"), ("in_stock", "true")) == ["Hoodie"]
    facets = (await listing(search))["facets"]["options"]
    assert facets["Size"] == [
        {"value": "M", "count": 2},
        {"value": "S", "count": 1},
        {"value": "XL", "count": 1},
    ]
    assert facets["Colour"] == [{"value": "Blue", "count": 1}, {"value": "Red", "count": 1}]
    assert facets["Color"] == [{"value": "Blue", "count": 1}]


async def test_a_rename_reaches_the_engine_through_the_outbox(
    engine_search: SearchFixture, engine_index: EngineIndex
) -> None:
    search = engine_search
    await _reindexed(engine_index, search.catalog)
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

    async def finds(*params: tuple[str, Any], expected: list[str]) -> None:
        async def check() -> bool:
            await engine_index.engine.refresh(engine_index.alias)
            await search.catalog.invalidate()  # the cache's generation, not the index's
            response = await search.client.get(LISTING, params=list(params))
            assert response.status_code == 200, response.text
            return sorted(item["name"] for item in response.json()["items"]) == expected

        await eventually(check)

    await finds(("option.Size", "L"), expected=["Hoodie"])

    await rename(search, hoodie)

    await finds(("option.Size", "XL"), expected=["Hoodie"])
    await finds(("option.Size", "L"), expected=[])
    await finds(("option.Colour", "Blue"), ("option.Size", "XL"), expected=["Hoodie"])
    await finds(("option.Color", "Blue"), expected=[])
