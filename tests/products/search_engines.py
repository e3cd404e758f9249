"""The search-engine backends under test: OpenSearch (the run's node, see
search_node.py) and Elasticsearch (only where ``ELASTICSEARCH_URL`` names a
server: its client refuses to talk to OpenSearch).

Tests that apply to every backend take the ``search`` fixture parametrised with
:data:`every_backend`; with an engine, each listing first brings the index in
step with the rows the test wrote straight into the database (as the outbox
worker would, only at once), so the same test body runs on all of them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shop.products.app import create_app
from shop.products.models import Product
from shop.products.search import ElasticsearchEngine, OpenSearchEngine, SearchEngine, ensure_index
from shop.products.search.es_indexer import load_documents
from tests.products.search_support import Catalog, SearchFixture, Tokens, search_settings
from tests.support import Databases, app_client

ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL")
ENGINES = ["opensearch", "elasticsearch"]
every_backend = pytest.mark.parametrize("search", ["postgres", "indexed", *ENGINES], indirect=True)


def engine_url(request: pytest.FixtureRequest, kind: str) -> str:
    if kind == "opensearch":
        url: str = request.getfixturevalue("opensearch_url")
        return url
    if not ELASTICSEARCH_URL:
        pytest.skip(
            "ELASTICSEARCH_URL is not set: no Elasticsearch server to test against (its"
            " client refuses OpenSearch; the builders are tested in test_search_es_builders.py)"
        )
    return ELASTICSEARCH_URL


def connect(kind: str, url: str) -> SearchEngine:
    if kind == "opensearch":
        return OpenSearchEngine.connect(url)
    return ElasticsearchEngine.connect(url)


def engine_settings(kind: str, url: str, alias: str) -> dict[str, Any]:
    return {"search_backend": kind, f"{kind}_url": url, f"{kind}_index": alias}


class EngineIndex:
    """An engine adapter and an alias no other test uses."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.engine = connect(kind, url)
        self.alias = f"test-products-{uuid.uuid4().hex[:12]}"

    def settings(self) -> dict[str, Any]:
        return engine_settings(self.kind, self.url, self.alias)

    async def sync(self, catalog: Catalog) -> None:
        """Makes the index hold exactly the products of the database, searchable."""
        await ensure_index(self.engine, self.alias)
        async with catalog.sessionmaker() as session:
            ids = list(await session.scalars(select(Product.id)))
            documents = await load_documents(session, ids)
        if documents:
            await self.engine.bulk_index(self.alias, documents, require_alias=True)
        await self.engine.refresh(self.alias)
        found = await self.engine.search(
            self.alias, {"size": 10_000, "_source": False, "query": {"match_all": {}}}
        )
        for hit in found["hits"]["hits"]:
            if hit["_id"] not in documents:
                await self.engine.delete_document(self.alias, hit["_id"])
        await self.engine.refresh(self.alias)

    async def drop(self) -> None:
        """Deletes the alias's indices (by name: clusters may refuse wildcards)."""
        for index in await self.engine.indices_of_alias(self.alias):
            await self.engine.delete_index(index)
        await self.engine.aclose()


@pytest.fixture(params=ENGINES)
async def engine_index(request: pytest.FixtureRequest) -> AsyncIterator[EngineIndex]:
    index = EngineIndex(request.param, engine_url(request, request.param))
    try:
        yield index
    finally:
        await index.drop()


async def engine_search(
    request: pytest.FixtureRequest,
    kind: str,
    databases: Databases,
    tokens: Tokens,
    catalog: Catalog,
    tmp_path: Path,
) -> AsyncIterator[SearchFixture]:
    """The products app on an engine; each listing syncs the index first."""
    index = EngineIndex(kind, engine_url(request, kind))
    settings = search_settings(
        databases, tokens, tmp_path, **index.settings(), outbox_poll_seconds=0.05
    )
    synced = -1

    async def before_read() -> None:
        nonlocal synced
        if synced != catalog.writes:
            await index.sync(catalog)
            synced = catalog.writes

    app = create_app(settings)
    try:
        async with app_client(app) as client:
            yield SearchFixture(
                client,
                app,
                catalog,
                tokens,
                admin=await tokens.headers("customer", "admin"),
                customer=await tokens.headers("customer"),
                before_read=before_read,
            )
    finally:
        await index.drop()
