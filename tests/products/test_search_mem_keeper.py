"""The in-process index follows the catalog's writes, made through the API: a catch-up
after each finds what a search should."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from shop.kit.db import create_sessionmaker
from shop.products.search.cursor import INDEX_TAG, encode_values
from shop.products.search.mem_backend import IndexedSearch
from shop.products.search.mem_keeper import IndexKeeper
from shop.products.search.mem_loader import Lexicon
from shop.products.search.mem_query import IndexAnswer, IndexQuery
from shop.products.search.mem_search import answer
from shop.products.search.mem_words import words_of
from shop.products.search.query import ProductQuery
from tests.products.search_support import (
    LISTING,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)
from tests.products.variant_support import API, SIZE_COLOR, create, restock, variant

__all__ = ["search", "search_catalog", "search_tokens"]  # fixtures


async def find(keeper: IndexKeeper, q: str, **filters: Any) -> IndexAnswer:
    """What the index answers ``q`` with, its words looked up in the process, as
    IndexedSearch does."""
    query = ProductQuery.model_validate({"q": q, **filters})
    assert keeper.index is not None
    async with keeper.sessions() as session:
        prepared, forms = await words_of(session, query, keeper.index, keeper.vocabulary, Lexicon())
    return answer(
        keeper.index,
        IndexQuery(
            forms,
            20,
            in_stock=query.in_stock,
            options=dict(query.options),
            sku_products=frozenset(prepared.sku_products),
        ),
    )


async def test_a_catch_up_finds_each_kind_of_catalog_write(search: SearchFixture) -> None:
    keeper = IndexKeeper(create_sessionmaker(search.catalog.engine), search.app.state.redis)
    lamp = await create(search, {"sku": "BR-1", "name": "Brass lamp", "price": 4000})
    await keeper.load()
    assert (await find(keeper, "lamp")).page == [uuid.UUID(lamp["id"])]

    hoodie = await create(
        search,
        {
            "sku": "HOOD",
            "name": "Wool hoodie",
            "options": SIZE_COLOR,
            "variants": [variant("HOOD-S-RED", 3000, 0, Size="S", Color="Red")],
        },
    )
    renamed = await search.client.patch(
        f"{API}/products/{lamp['id']}", json={"name": "Brass sconce"}, headers=search.admin
    )
    assert renamed.status_code == 200, renamed.text
    assert await keeper.catch_up() == 2
    # The margin finds them again; their versions did not move: nothing is read.
    assert await keeper.catch_up() == 0
    assert (await find(keeper, "lamp")).total == 0
    assert (await find(keeper, "sconce")).page == [uuid.UUID(lamp["id"])]
    # The vocabulary followed: the new word corrects a typo of it.
    assert "sconce" in keeper.vocabulary
    assert (await find(keeper, "sconse")).page == [uuid.UUID(lamp["id"])]
    assert (await find(keeper, "hoodie", in_stock="true")).total == 0

    [small] = hoodie["variants"]
    await restock(search, hoodie["id"], small["id"], 3)
    await keeper.catch_up()
    in_stock = await find(keeper, "hoodie", **{"in_stock": "true", "option.Size": "S"})
    assert in_stock.page == [uuid.UUID(hoodie["id"])]

    archived = await search.client.delete(f"{API}/products/{lamp['id']}", headers=search.admin)
    assert archived.status_code == 204, archived.text
    await keeper.catch_up()
    assert (await find(keeper, "sconce")).total == 0


async def searched(search: SearchFixture, **params: Any) -> dict[str, Any]:
    """The listing as a client gets it: no reload of the index first."""
    response = await search.client.get(LISTING, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("search", ["indexed"], indirect=True)
async def test_a_catalog_write_is_in_the_next_search_and_stock_follows(
    search: SearchFixture,
) -> None:
    assert isinstance(search.app.state.search, IndexedSearch)
    lantern = await create(
        search,
        {
            "sku": "LANT",
            "name": "Storm lantern",
            "options": SIZE_COLOR,
            "variants": [variant("LANT-S-RED", 3000, 0, Size="S", Color="Red")],
        },
    )
    # The write bumped the catalog generation: the next search catches up first.
    found = await searched(search, q="lantern")
    assert [item["id"] for item in found["items"]] == [lantern["id"]]
    assert (await searched(search, q="lantern", in_stock="true"))["total"] == 0

    [small] = lantern["variants"]
    await restock(search, lantern["id"], small["id"], 2)
    # Stock follows in the background, within SEARCH_INDEX_FOLLOW_SECONDS (1 s).
    deadline = time.monotonic() + 30
    while (await searched(search, q="lantern", in_stock="true"))["total"] != 1:
        assert time.monotonic() < deadline, "the index never saw the stock"
        await asyncio.sleep(0.1)

    archived = await search.client.delete(f"{API}/products/{lantern['id']}", headers=search.admin)
    assert archived.status_code == 204, archived.text
    assert (await searched(search, q="lantern"))["total"] == 0


@pytest.mark.parametrize("search", ["indexed"], indirect=True)
async def test_pages_of_the_index_and_of_postgresql_never_mix(search: SearchFixture) -> None:
    for n in range(3):
        await create(search, {"sku": f"CAN-{n}", "name": f"Candle {n}", "price": 500 + n})
    first = await searched(search, q="candle", limit=2)
    assert first["next_cursor"]
    assert first["total"] == 3
    second = await searched(search, q="candle", limit=2, cursor=first["next_cursor"])
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    # An index cursor is not a price cursor, nor the other way round: a 400, not a 500.
    other = await search.client.get(
        LISTING, params={"q": "candle", "sort": "price_asc", "cursor": first["next_cursor"]}
    )
    assert other.status_code == 400, other.text
    by_price = await searched(search, q="candle", sort="price_asc", limit=2)
    forged = await search.client.get(
        LISTING, params={"q": "candle", "cursor": by_price["next_cursor"]}
    )
    assert forged.status_code == 400, forged.text


@pytest.mark.parametrize("search", ["indexed"], indirect=True)
@pytest.mark.parametrize(
    "values",
    [
        [INDEX_TAG, 0, 0, 0, 0, "2026-01-01", str(uuid.UUID(int=1))],  # naive time
        [INDEX_TAG, 0, -1, 0, 0, "2026-01-01T00:00:00+00:00", str(uuid.UUID(int=1))],
        [INDEX_TAG, 0, 0, "x", 0, "2026-01-01T00:00:00+00:00", str(uuid.UUID(int=1))],
        [INDEX_TAG, 0, 0, 0, 0, "2026-01-01T00:00:00+00:00", "not an id"],
        [INDEX_TAG, True, 0, 0, 0, "9999-12-31T23:59:59-23:59", str(uuid.UUID(int=1))],
    ],
)
async def test_a_forged_index_cursor_is_a_400(search: SearchFixture, values: list[Any]) -> None:
    await create(search, {"sku": "CAN-X", "name": "Candle", "price": 500})
    forged = await search.client.get(
        LISTING, params={"q": "candle", "cursor": encode_values(values)}
    )
    assert forged.status_code == 400, forged.text
