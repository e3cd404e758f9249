"""A search engine that goes away and comes back, and an index rebuilt under load.

The outage test stops and restarts an OpenSearch node of its own (the run's
node is shared); the reindex test runs ``shop search reindex`` while searches
go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from shop.cli.embedded_search import EmbeddedOpenSearch
from shop.products.app import create_app
from shop.products.search import OpenSearchEngine, reindex
from tests.products.search_engines import EngineIndex, engine_index, engine_settings
from tests.products.search_node import opensearch_url
from tests.products.search_support import (
    Catalog,
    SearchFixture,
    Tokens,
    search_catalog,
    search_settings,
    search_tokens,
)
from tests.products.test_search_engines import eventually
from tests.support import Databases, app_client

__all__ = ["engine_index", "opensearch_url", "search_catalog", "search_tokens"]  # fixtures


async def test_the_indexer_catches_up_after_the_engine_was_down(
    databases: Databases,
    search_tokens: Tokens,
    search_catalog: Catalog,
    opensearch_url: str,  # skips where no node can run
    tmp_path: Path,
) -> None:
    node = EmbeddedOpenSearch(tmp_path / "node")
    await asyncio.to_thread(node.start)
    alias = "products-recovery"
    settings = search_settings(
        databases,
        search_tokens,
        tmp_path,
        **engine_settings("opensearch", node.url(), alias),
        outbox_poll_seconds=0.05,
        cache_ttl_seconds=0,
    )
    app = create_app(settings)
    try:
        async with app_client(app) as client:
            search = SearchFixture(
                client,
                app,
                search_catalog,
                search_tokens,
                admin=await search_tokens.headers("customer", "admin"),
                customer=await search_tokens.headers("customer"),
            )
            engine = OpenSearchEngine.connect(node.url())

            async def found(q: str, names: list[str]) -> bool:
                await engine.refresh(alias)
                return await search.names(q=q) == names

            kettle = await client.post(
                "/api/v1/products",
                json={"sku": "KT-1", "name": "Copper Kettle", "price": 4500, "status": "active"},
                headers=search.admin,
            )
            assert kettle.status_code == 201, kettle.text
            await eventually(lambda: found("kettle", ["Copper Kettle"]))

            await asyncio.to_thread(node.stop)
            down = await client.get("/api/v1/products", params={"q": "kettle"})
            assert down.status_code == 503
            assert down.headers["content-type"].startswith("application/problem+json")
            lantern = await client.post(
                "/api/v1/products",
                json={"sku": "BL-1", "name": "Brass Lantern", "price": 3900, "status": "active"},
                headers=search.admin,
            )
            assert lantern.status_code == 201, lantern.text
            archived = await client.delete(
                f"/api/v1/products/{kettle.json()['id']}", headers=search.admin
            )
            assert archived.status_code == 204
            await asyncio.sleep(1.0)  # the worker tries, fails and backs off meanwhile

            # The same node again: same port, same data (the index survived).
            await asyncio.to_thread(node.start)
            await eventually(lambda: found("lantern", ["Brass Lantern"]), within=180)
            await eventually(lambda: found("kettle", []), within=180)
            await engine.aclose()
    finally:
        await asyncio.to_thread(node.stop)


async def test_shop_search_reindex_fails_no_search_while_it_runs(
    databases: Databases,
    search_tokens: Tokens,
    search_catalog: Catalog,
    engine_index: EngineIndex,
    tmp_path: Path,
) -> None:
    count = 400
    await search_catalog.products(*({"name": f"Gadget {i}"} for i in range(count)))
    first = await reindex(engine_index.engine, search_catalog.sessionmaker, engine_index.alias)
    settings = search_settings(
        databases, search_tokens, tmp_path, **engine_index.settings(), cache_ttl_seconds=0
    )
    kind = engine_index.kind.upper()
    environment = {
        "PRODUCTS_DATABASE_URL": databases.urls["products"],
        "SEARCH_BACKEND": engine_index.kind,
        f"{kind}_URL": engine_index.url,
        f"{kind}_INDEX": engine_index.alias,
        "SHOP_DATA_DIR": str(tmp_path / "data"),
        "LOG_FORMAT": "json",
    }
    app = create_app(settings)
    async with app_client(app) as client:
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shop", "search", "reindex",
            cwd=tmp_path, env={**_inherited(), **environment},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        searches = 0
        while command.returncode is None:
            for params in ({"q": "gadget"}, {"sort": "name", "limit": 5}):
                response = await client.get("/api/v1/products", params=params)
                assert response.status_code == 200, response.text
                assert response.json()["total"] == count
                searches += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(command.wait(), timeout=0.01)
        output, errors = await command.communicate()
    assert command.returncode == 0, errors.decode()
    assert f"products into {engine_index.alias}-" in output.decode()
    assert searches >= 10  # searches went on throughout, not just once
    [now] = await engine_index.engine.indices_of_alias(engine_index.alias)
    assert now != first.index
    assert not await engine_index.engine.index_exists(first.index)


def _inherited() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ELASTICSEARCH_", "OPENSEARCH_", "SEARCH_BACKEND"))
    }
