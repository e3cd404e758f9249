"""The configured backend, as an app resource, and the outbox handlers it needs.

``app.state.search`` holds the :class:`SearchBackend` for the app's lifetime.
The products outbox carries ``product.changed`` and ``category.changed``
whatever the backend: with Elasticsearch or OpenSearch their handlers keep the
index in step;
with PostgreSQL (whose search vector triggers keep in step by themselves) they
do nothing, so the messages are marked delivered instead of piling up.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI

from shop.kit.health import ReadinessCheck
from shop.kit.outbox import Handler
from shop.kit.resource import Resource
from shop.products.config import ProductsSettings
from shop.products.search.engine import SearchEngine, SearchEngineError
from shop.products.search.es_backend import EngineSearch
from shop.products.search.es_engine import ElasticsearchEngine
from shop.products.search.es_indexer import (
    CATEGORY_CHANGED,
    PRODUCT_CHANGED,
    ProductIndexer,
    ensure_index,
)
from shop.products.search.mem_backend import IndexedSearch
from shop.products.search.mem_keeper import IndexKeeper
from shop.products.search.os_engine import OpenSearchEngine
from shop.products.search.port import SearchBackend
from shop.products.search.postgres import PostgresSearch

log = structlog.get_logger("shop.products.search")


class SearchConfigurationError(RuntimeError):
    pass


def indexes_stock(settings: ProductsSettings) -> bool:
    """Whether stock changes must put ``product.changed`` in the outbox: only a search
    engine's index holds a copy of the stock. With PostgreSQL the message's
    handler does nothing, so reservations (many, under order load) skip writing it;
    catalog writes (few) send it whatever the backend."""
    return settings.search_backend in ("elasticsearch", "opensearch")


def create_search_engine(settings: ProductsSettings) -> tuple[SearchEngine, str]:
    """The engine adapter the settings name, and the alias it reads and writes."""
    if settings.search_backend == "elasticsearch":
        if not settings.elasticsearch_url:
            raise SearchConfigurationError(
                "SEARCH_BACKEND=elasticsearch needs ELASTICSEARCH_URL to be set"
            )
        engine = ElasticsearchEngine.connect(settings.elasticsearch_url)
        return engine, settings.elasticsearch_index
    if settings.search_backend == "opensearch":
        if not settings.opensearch_url:
            raise SearchConfigurationError(
                "SEARCH_BACKEND=opensearch needs OPENSEARCH_URL to be set"
                " (`shop up` starts a local node when it is not)"
            )
        password = settings.opensearch_password
        ca_bundle = settings.opensearch_ca_bundle
        opensearch = OpenSearchEngine.connect(
            settings.opensearch_url,
            username=settings.opensearch_username,
            password=password.get_secret_value() if password else None,
            ca_bundle=str(ca_bundle) if ca_bundle else None,
        )
        return opensearch, settings.opensearch_index
    raise SearchConfigurationError(f"{settings.search_backend} is not a search engine")


def create_search_backend(settings: ProductsSettings) -> SearchBackend:
    if settings.search_backend == "postgres":
        return PostgresSearch()
    return EngineSearch(*create_search_engine(settings))


def _backend(settings: ProductsSettings, app: FastAPI) -> SearchBackend:
    """The app's backend: with the in-process index, on the app's sessions and Redis."""
    if settings.search_backend == "postgres" and settings.search_in_process_index:
        keeper = IndexKeeper(
            app.state.sessionmaker, app.state.redis, views=settings.search_index_views
        )
        return IndexedSearch(keeper, follow_seconds=settings.search_index_follow_seconds)
    return create_search_backend(settings)


def search_resource(settings: ProductsSettings) -> Resource:
    """Puts the backend at ``app.state.search``; with the in-process index, loads it
    before the app is ready; with a search engine, makes sure the index exists and adds
    a readiness check."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        backend = _backend(settings, app)
        app.state.search = backend
        checks: dict[str, ReadinessCheck] = {}
        if isinstance(backend, IndexedSearch):
            started = time.perf_counter()
            await backend.start()  # ready once the catalog is in
            log.info("search index loaded", seconds=round(time.perf_counter() - started, 1))
        if isinstance(backend, EngineSearch):
            checks["search"] = backend.engine.ping
            try:
                await ensure_index(backend.engine, backend.alias)
            except SearchEngineError as exc:
                # Not fatal: searches answer 503 and the indexer retries until it is back.
                log.warning("search index not checked", error=str(exc))
        try:
            yield checks
        finally:
            await backend.aclose()

    return resource


async def _delivered(_: dict[str, Any]) -> None:
    """PostgreSQL keeps its search vector by triggers: nothing to do."""


def search_outbox_handlers(app: FastAPI) -> dict[str, Handler]:
    """Handlers of the search topics for the products outbox worker (list
    :func:`search_resource` and the database resource before the worker)."""
    backend = app.state.search
    if isinstance(backend, EngineSearch):
        indexer = ProductIndexer(backend.engine, backend.alias, app.state.sessionmaker)
        return indexer.handlers()
    return {PRODUCT_CHANGED: _delivered, CATEGORY_CHANGED: _delivered}
