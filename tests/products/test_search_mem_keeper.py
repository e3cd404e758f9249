"""The in-process index follows the catalog's writes, made through the API: a catch-up
after each finds what a search should."""

from __future__ import annotations

import uuid
from typing import Any

from shop.kit.db import create_sessionmaker
from shop.products.search.mem_keeper import IndexKeeper
from shop.products.search.mem_loader import word_forms
from shop.products.search.mem_search import IndexAnswer, IndexQuery, answer
from shop.products.search.pg_prepare import prepare
from shop.products.search.pg_text import correct
from shop.products.search.query import ProductQuery
from tests.products.search_support import SearchFixture, search, search_catalog, search_tokens
from tests.products.variant_support import API, SIZE_COLOR, create, variant

__all__ = ["search", "search_catalog", "search_tokens"]  # fixtures


async def find(keeper: IndexKeeper, q: str, **filters: Any) -> IndexAnswer:
    query = ProductQuery.model_validate({"q": q, **filters})
    async with keeper.sessions() as session:
        words, _, found, sku_products = await prepare(session, query)
        forms = await word_forms(session, correct(words, found))
    assert keeper.index is not None
    return answer(
        keeper.index,
        IndexQuery(
            forms,
            20,
            in_stock=query.in_stock,
            options=dict(query.options),
            sku_products=frozenset(sku_products),
        ),
    )


async def test_a_catch_up_finds_each_kind_of_catalog_write(search: SearchFixture) -> None:
    keeper = IndexKeeper(create_sessionmaker(search.catalog.engine))
    lamp = await create(search, {"sku": "LAMP-1", "name": "Brass lamp", "price": 4000})
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
    assert await keeper.catch_up() >= 2
    assert (await find(keeper, "lamp")).total == 0
    assert (await find(keeper, "sconce")).page == [uuid.UUID(lamp["id"])]
    assert (await find(keeper, "hoodie", in_stock="true")).total == 0

    [small] = hoodie["variants"]
    restocked = await search.client.post(
        f"{API}/products/{hoodie['id']}/inventory/adjustments",
        json={"variant_id": small["id"], "delta": 3, "reason": "delivery"},
        headers=search.admin,
    )
    assert restocked.status_code == 200, restocked.text
    await keeper.catch_up()
    in_stock = await find(keeper, "hoodie", **{"in_stock": "true", "option.Size": "S"})
    assert in_stock.page == [uuid.UUID(hoodie["id"])]

    archived = await search.client.delete(f"{API}/products/{lamp['id']}", headers=search.admin)
    assert archived.status_code == 204, archived.text
    await keeper.catch_up()
    assert (await find(keeper, "sconce")).total == 0
