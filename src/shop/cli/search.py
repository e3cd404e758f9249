"""`shop search reindex`: rebuild the Elasticsearch index and swap its alias."""

from __future__ import annotations

import asyncio

from elastic_transport import TransportError
from elasticsearch import ApiError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shop.cli.config import CliSettings
from shop.cli.system import data_layer, migrate
from shop.kit.db import create_engine, create_sessionmaker
from shop.products.config import ProductsSettings
from shop.products.search import ReindexResult, reindex
from shop.products.search.es_backend import create_client


class _Elasticsearch(BaseSettings):
    """Read before anything starts: without a URL there is nothing to do."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    elasticsearch_url: str | None = None


class SearchCommandError(RuntimeError):
    """Reported in one line; exit status 2 for bad configuration, 1 for the rest."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


async def _reindex(settings: ProductsSettings) -> ReindexResult:
    assert settings.elasticsearch_url is not None
    engine = create_engine(settings)
    client = create_client(settings.elasticsearch_url)
    try:
        return await reindex(client, create_sessionmaker(engine), settings.elasticsearch_index)
    finally:
        await client.close()
        await engine.dispose()


def reindex_command(cli: CliSettings) -> ReindexResult:
    """Every product into a new index; the alias ``ELASTICSEARCH_INDEX`` moves to it."""
    if not _Elasticsearch().elasticsearch_url:
        raise SearchCommandError("ELASTICSEARCH_URL is not set", status=2)
    with data_layer(cli, need_redis=False, services=["products"]) as env:
        migrate(env, ["products"])
        settings = ProductsSettings(PRODUCTS_DATABASE_URL=env["PRODUCTS_DATABASE_URL"])
        try:
            return asyncio.run(_reindex(settings))
        except (TransportError, ApiError) as exc:
            raise SearchCommandError(f"Elasticsearch refused or is unreachable: {exc}") from exc
