"""The Elasticsearch backend against a real server (``ELASTICSEARCH_URL``).

Each test works behind an alias of its own and deletes its indices afterwards.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch

from shop.products.app import create_app
from shop.products.search import reindex
from shop.products.search.es_backend import create_client
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

__all__ = ["search_catalog", "search_tokens"]  # fixtures

ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL")
pytestmark = pytest.mark.skipif(
    not ELASTICSEARCH_URL,
    reason="ELASTICSEARCH_URL is not set: no Elasticsearch server to test against "
    "(the mapping, query and page builders are tested in test_search_es_builders.py)",
)


@pytest.fixture
async def es() -> AsyncIterator[tuple[AsyncElasticsearch, str]]:
    """A client, and an alias no other test uses; its indices are deleted afterwards."""
    assert ELASTICSEARCH_URL is not None
    client = create_client(ELASTICSEARCH_URL)
    alias = f"test-products-{uuid.uuid4().hex[:12]}"
    try:
        yield client, alias
    finally:
        # By name: clusters refuse wildcard deletes (action.destructive_requires_name).
        found = await client.indices.get(index=f"{alias}-*", allow_no_indices=True)
        for index in found.body:
            await client.indices.delete(index=index)
        await client.close()


@pytest.fixture
async def es_search(
    databases: Databases,
    search_tokens: Tokens,
    search_catalog: Catalog,
    es: tuple[AsyncElasticsearch, str],
    tmp_path: Path,
) -> AsyncIterator[SearchFixture]:
    """The products app on the Elasticsearch backend, its outbox worker polling fast."""
    _, alias = es
    settings = search_settings(
        databases,
        search_tokens,
        tmp_path,
        search_backend="elasticsearch",
        elasticsearch_url=ELASTICSEARCH_URL,
        elasticsearch_index=alias,
        outbox_poll_seconds=0.05,
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


async def _reindexed(es: tuple[AsyncElasticsearch, str], catalog: Catalog) -> str:
    client, alias = es
    result = await reindex(client, catalog.sessionmaker, alias)
    await client.indices.refresh(index=alias)
    await catalog.invalidate()
    return result.index


async def _eventually(check: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the index never caught up"
        await asyncio.sleep(0.2)


async def test_typos_accents_filters_and_facets(
    es_search: SearchFixture, es: tuple[AsyncElasticsearch, str]
) -> None:
    catalog = es_search.catalog
    await catalog.category("Electronics", "electronics")
    await catalog.category("Audio", "audio", parent="electronics")
    await catalog.category("Kitchen", "kitchen")
    await catalog.products(
        {"name": "Wireless Headphones", "sku": "WH-1", "category": "audio", "price": 9900},
        {"name": "Café Grinder", "sku": "CG-1", "category": "kitchen", "price": 4900},
        {"name": "Studio Speaker", "sku": "SS-1", "category": "electronics", "on_hand": 0},
        {"name": "Draft Speaker", "sku": "DS-1", "status": "draft"},
    )
    await _reindexed(es, catalog)

    assert await es_search.names(q="wireles headphnes") == ["Wireless Headphones"]
    assert await es_search.names(q="cafe") == ["Café Grinder"]
    assert await es_search.names(q="WH-1") == ["Wireless Headphones"]
    assert sorted(await es_search.names(category="electronics")) == [
        "Studio Speaker",
        "Wireless Headphones",
    ]
    assert await es_search.names(in_stock="false") == ["Studio Speaker"]
    assert await es_search.names(min_price=5000) == ["Wireless Headphones"]
    assert await es_search.names(q="speaker") == ["Studio Speaker"]
    assert await es_search.names(es_search.admin, q="speaker", status="draft") == ["Draft Speaker"]
    page = await es_search.list(category="audio")
    assert page["total"] == 1
    assert {"slug": "electronics", "count": 2} in page["facets"]["categories"]
    assert {"slug": "kitchen", "count": 1} in page["facets"]["categories"]


async def test_a_cursor_walk_sees_each_product_once(
    es_search: SearchFixture, es: tuple[AsyncElasticsearch, str]
) -> None:
    await es_search.catalog.products(
        *({"name": f"Gadget {i % 13}", "price": 100 * (i % 9)} for i in range(60))
    )
    await _reindexed(es, es_search.catalog)
    for sort in ("price_asc", "name", "newest"):
        items = await es_search.walk(sort=sort, limit=7)
        assert len(items) == 60
        assert len({item["id"] for item in items}) == 60
    items = await es_search.walk(q="gadget", limit=7)
    assert len({item["id"] for item in items}) == 60


async def test_writes_reach_the_index_through_the_outbox(
    es_search: SearchFixture, es: tuple[AsyncElasticsearch, str]
) -> None:
    await _reindexed(es, es_search.catalog)
    client, alias = es
    created = await es_search.client.post(
        "/api/v1/products",
        json={"sku": "KT-1", "name": "Copper Kettle", "price": 4500, "status": "active"},
        headers=es_search.admin,
    )
    assert created.status_code == 201, created.text

    async def indexed() -> bool:
        await client.indices.refresh(index=alias)
        await es_search.catalog.invalidate()
        return await es_search.names(q="coper kettle") == ["Copper Kettle"]

    await _eventually(indexed)

    product_id = created.json()["id"]
    archived = await es_search.client.delete(
        f"/api/v1/products/{product_id}", headers=es_search.admin
    )
    assert archived.status_code == 204

    async def gone() -> bool:
        await client.indices.refresh(index=alias)
        await es_search.catalog.invalidate()
        return await es_search.names(q="kettle") == []

    await _eventually(gone)


async def test_reindex_swaps_the_alias_and_drops_the_old_index(
    search_catalog: Catalog, es: tuple[AsyncElasticsearch, str]
) -> None:
    client, alias = es
    await search_catalog.products({"name": "First"})
    first = await _reindexed(es, search_catalog)
    await search_catalog.products({"name": "Second"})
    second = await _reindexed(es, search_catalog)
    assert first != second
    assert list((await client.indices.get_alias(name=alias)).body) == [second]
    assert not await client.indices.exists(index=first)
    assert (await client.count(index=alias))["count"] == 2


async def test_shop_search_reindex(
    databases: Databases,
    search_catalog: Catalog,
    es: tuple[AsyncElasticsearch, str],
    tmp_path: Path,
) -> None:
    _, alias = es
    await search_catalog.products({"name": "Seeded"})
    result = shop(
        "search",
        "reindex",
        cwd=tmp_path,
        PRODUCTS_DATABASE_URL=databases.urls["products"],
        ELASTICSEARCH_URL=ELASTICSEARCH_URL or "",
        ELASTICSEARCH_INDEX=alias,
        SHOP_DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 0, result.stderr
    assert f"Indexed 1 products into {alias}-" in result.stdout
