"""The search-engine backends against real servers: OpenSearch (the run's node,
built from Maven Central) and Elasticsearch (where ``ELASTICSEARCH_URL`` is set).

Each test works behind an alias of its own and deletes its indices afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from shop.products.app import create_app
from shop.products.search import reindex
from tests.products.search_engines import EngineIndex, engine_index
from tests.products.search_node import opensearch_url
from tests.products.search_support import (
    Catalog,
    SearchFixture,
    Tokens,
    search_catalog,
    search_settings,
    search_tokens,
)
from tests.products.test_search_cli import shop
from tests.support import Databases, app_client

__all__ = ["engine_index", "opensearch_url", "search_catalog", "search_tokens"]  # fixtures


@pytest.fixture
async def engine_search(
    databases: Databases,
    search_tokens: Tokens,
    search_catalog: Catalog,
    engine_index: EngineIndex,
    tmp_path: Path,
) -> AsyncIterator[SearchFixture]:
    """The products app on the engine, its outbox worker polling fast."""
    settings = search_settings(
        databases, search_tokens, tmp_path, **engine_index.settings(), outbox_poll_seconds=0.05
    )
    app = create_app(settings)
    async with app_client(app) as client:
        yield SearchFixture(
            client,
            app,
            search_catalog,
            search_tokens,
            admin=await search_tokens.headers("customer", "admin"),
            customer=await search_tokens.headers("customer"),
        )


async def _reindexed(index: EngineIndex, catalog: Catalog) -> str:
    result = await reindex(index.engine, catalog.sessionmaker, index.alias)
    await index.engine.refresh(index.alias)
    await catalog.invalidate()
    return result.index


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the index never caught up"
        await asyncio.sleep(0.2)


async def test_typos_accents_filters_and_facets(
    engine_search: SearchFixture, engine_index: EngineIndex
) -> None:
    catalog = engine_search.catalog
    await catalog.category("Electronics", "electronics")
    await catalog.category("Audio", "audio", parent="electronics")
    await catalog.category("Kitchen", "kitchen")
    await catalog.products(
        {"name": "Wireless Headphones", "sku": "WH-1", "category": "audio", "price": 9900},
        {"name": "Café Grinder", "sku": "CG-1", "category": "kitchen", "price": 4900},
        {"name": "Studio Speaker", "sku": "SS-1", "category": "electronics", "on_hand": 0},
        {"name": "Draft Speaker", "sku": "DS-1", "status": "draft"},
    )
    await _reindexed(engine_index, catalog)

    assert await engine_search.names(q="wireles headphnes") == ["Wireless Headphones"]
    assert await engine_search.names(q="cafe") == ["Café Grinder"]
    assert await engine_search.names(q="WH-1") == ["Wireless Headphones"]
    assert sorted(await engine_search.names(category="electronics")) == [
        "Studio Speaker",
        "Wireless Headphones",
    ]
    assert await engine_search.names(in_stock="false") == ["Studio Speaker"]
    assert await engine_search.names(min_price=5000) == ["Wireless Headphones"]
    assert await engine_search.names(q="speaker") == ["Studio Speaker"]
    admin = engine_search.admin
    assert await engine_search.names(admin, q="speaker", status="draft") == ["Draft Speaker"]
    page = await engine_search.list(category="audio")
    assert page["total"] == 1
    assert {"slug": "electronics", "count": 2} in page["facets"]["categories"]
    assert {"slug": "kitchen", "count": 1} in page["facets"]["categories"]


async def test_a_cursor_walk_sees_each_product_once(
    engine_search: SearchFixture, engine_index: EngineIndex
) -> None:
    await engine_search.catalog.products(
        *({"name": f"Gadget {i % 13}", "price": 100 * (i % 9)} for i in range(60))
    )
    await _reindexed(engine_index, engine_search.catalog)
    for sort in ("price_asc", "name", "newest"):
        items = await engine_search.walk(sort=sort, limit=7)
        assert len(items) == 60
        assert len({item["id"] for item in items}) == 60
    items = await engine_search.walk(q="gadget", limit=7)
    assert len({item["id"] for item in items}) == 60


async def test_writes_reach_the_index_through_the_outbox(
    engine_search: SearchFixture, engine_index: EngineIndex
) -> None:
    await _reindexed(engine_index, engine_search.catalog)
    created = await engine_search.client.post(
        "/api/v1/products",
        json={"sku": "KT-1", "name": "Copper Kettle", "price": 4500, "status": "active"},
        headers=engine_search.admin,
    )
    assert created.status_code == 201, created.text

    async def indexed() -> bool:
        await engine_index.engine.refresh(engine_index.alias)
        await engine_search.catalog.invalidate()
        return await engine_search.names(q="coper kettle") == ["Copper Kettle"]

    await eventually(indexed)

    product_id = created.json()["id"]
    archived = await engine_search.client.delete(
        f"/api/v1/products/{product_id}", headers=engine_search.admin
    )
    assert archived.status_code == 204

    async def gone() -> bool:
        await engine_index.engine.refresh(engine_index.alias)
        await engine_search.catalog.invalidate()
        return await engine_search.names(q="kettle") == []

    await eventually(gone)


async def test_reindex_swaps_the_alias_and_drops_the_old_index(
    search_catalog: Catalog, engine_index: EngineIndex
) -> None:
    engine = engine_index.engine
    await search_catalog.products({"name": "First"})
    first = await _reindexed(engine_index, search_catalog)
    await search_catalog.products({"name": "Second"})
    second = await _reindexed(engine_index, search_catalog)
    assert first != second
    assert await engine.indices_of_alias(engine_index.alias) == [second]
    assert not await engine.index_exists(first)
    assert await engine.count(engine_index.alias) == 2


async def test_shop_search_reindex(
    databases: Databases,
    search_catalog: Catalog,
    engine_index: EngineIndex,
    tmp_path: Path,
) -> None:
    await search_catalog.products({"name": "Seeded"})
    kind = engine_index.kind.upper()
    result = shop(
        "search",
        "reindex",
        cwd=tmp_path,
        PRODUCTS_DATABASE_URL=databases.urls["products"],
        SEARCH_BACKEND=engine_index.kind,
        **{f"{kind}_URL": engine_index.url, f"{kind}_INDEX": engine_index.alias},
        SHOP_DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 0, result.stderr
    assert f"Indexed 1 products into {engine_index.alias}-" in result.stdout
