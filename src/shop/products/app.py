from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shop.kit.app import Resource, create_service_app
from shop.kit.health import ReadinessCheck
from shop.kit.db import database_resource
from shop.kit.identity import identity_resource
from shop.kit.redis import redis_resource
from shop.products.api import router
from shop.products.cache import CatalogCache
from shop.products.config import ProductsSettings


def cache_resource(settings: ProductsSettings) -> Resource:
    """The catalog read cache at ``app.state.cache`` (after the Redis resource)."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        app.state.cache = CatalogCache(app.state.redis, settings.cache_ttl_seconds)
        yield {}

    return resource


def create_app(settings: ProductsSettings | None = None) -> FastAPI:
    settings = settings or ProductsSettings()  # from the environment
    return create_service_app(
        settings,
        title="Products service",
        description="Catalog, categories, inventory, search and images.",
        routers=[router],
        resources=[
            database_resource(settings),
            redis_resource(settings.redis_url),
            identity_resource(settings),
            cache_resource(settings),
        ],
    )
