"""`shop search reindex`: rebuild the search engine's index and swap its alias.

The engine is OpenSearch with ``SEARCH_BACKEND=opensearch`` (or an
``OPENSEARCH_URL`` and no other backend named): at ``OPENSEARCH_URL``, or else
the embedded node, started for the command. Otherwise it is Elasticsearch at
``ELASTICSEARCH_URL``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import structlog
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select

from shop.cli.config import CliSettings
from shop.cli.embedded import EmbeddedServerError
from shop.cli.embedded_search import EmbeddedOpenSearch
from shop.cli.progress import progress
from shop.cli.system import data_layer, migrate
from shop.kit.db import create_engine, create_sessionmaker
from shop.products.config import ProductsSettings
from shop.products.models import Product
from shop.products.search import ReindexResult, SearchEngineError, create_search_engine, reindex

log = structlog.get_logger("shop.cli")


class _SearchEngine(BaseSettings):
    """Read before anything starts: without an engine there is nothing to do."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    search_backend: str | None = None
    elasticsearch_url: str | None = None
    opensearch_url: str | None = None

    @property
    def opensearch(self) -> bool:
        if self.search_backend == "opensearch":
            return True
        return bool(self.opensearch_url) and self.search_backend in (None, "postgres")


class SearchCommandError(RuntimeError):
    """Reported in one line; exit status 2 for bad configuration, 1 for the rest."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


async def _reindex(settings: ProductsSettings) -> ReindexResult:
    engine, alias = create_search_engine(settings)
    database = create_engine(settings)
    try:
        sessions = create_sessionmaker(database)
        async with sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Product))
        with progress("search index", total or 0) as indexed:
            return await reindex(engine, sessions, alias, indexed)
    finally:
        await engine.aclose()
        await database.dispose()


@contextmanager
def search_layer(cli: CliSettings, configured: _SearchEngine) -> Iterator[dict[str, Any]]:
    """The engine's settings, starting the embedded OpenSearch node if it has no URL."""
    with ExitStack() as stack:
        if not configured.opensearch:
            yield {"search_backend": "elasticsearch"}
        elif configured.opensearch_url:
            yield {"search_backend": "opensearch"}
        else:
            node = stack.enter_context(EmbeddedOpenSearch(cli.data_dir))
            yield {"search_backend": "opensearch", "opensearch_url": node.url()}


def reindex_command(cli: CliSettings) -> ReindexResult:
    """Every product into a new index; the alias (``OPENSEARCH_INDEX`` or
    ``ELASTICSEARCH_INDEX``) moves to it."""
    configured = _SearchEngine()
    if not configured.opensearch and not configured.elasticsearch_url:
        raise SearchCommandError(
            "ELASTICSEARCH_URL is not set (nor SEARCH_BACKEND=opensearch)", status=2
        )
    try:
        with (
            data_layer(cli, need_redis=False, services=["products"]) as env,
            search_layer(cli, configured) as engine_settings,
        ):
            migrate(env, ["products"])
            settings = ProductsSettings(
                PRODUCTS_DATABASE_URL=env["PRODUCTS_DATABASE_URL"], **engine_settings
            )
            return asyncio.run(_reindex(settings))
    except SearchEngineError as exc:
        raise SearchCommandError(f"the search engine refused or is unreachable: {exc}") from exc
    except EmbeddedServerError as exc:
        raise SearchCommandError(str(exc), status=2) from exc


@contextmanager
def up_search_layer(cli: CliSettings, chosen: str | None) -> Iterator[dict[str, str]]:
    """What `shop up` adds to the services' environment for search: the backend
    chosen with ``--search``, and with OpenSearch and no ``OPENSEARCH_URL`` the
    embedded node, started here, with the catalog indexed into it once the
    products database is migrated (call :func:`index_catalog`)."""
    configured = _SearchEngine()
    backend = chosen or configured.search_backend
    env = {"SEARCH_BACKEND": chosen} if chosen else {}
    if backend != "opensearch" or configured.opensearch_url:
        yield env
        return
    with EmbeddedOpenSearch(cli.data_dir) as node:
        log.info("embedded opensearch is up", url=node.url(), data=str(node.root))
        yield {**env, "SEARCH_BACKEND": "opensearch", "OPENSEARCH_URL": node.url()}


def index_catalog(products_database_url: str, opensearch_url: str) -> ReindexResult:
    """Every product into a new index of the embedded node (its alias moves to it)."""
    settings = ProductsSettings(
        PRODUCTS_DATABASE_URL=products_database_url,
        search_backend="opensearch",
        opensearch_url=opensearch_url,
    )
    result = asyncio.run(_reindex(settings))
    log.info("catalog indexed into opensearch", products=result.products, index=result.index)
    return result
