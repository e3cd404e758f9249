from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from shop.kit.app import create_service_app
from shop.kit.db import database_resource
from shop.kit.health import ReadinessCheck
from shop.kit.identity import identity_resource
from shop.kit.metrics import HttpMetrics
from shop.kit.outbox_worker import OutboxWorker, outbox_worker_resource
from shop.kit.redis import redis_resource
from shop.kit.resource import Resource
from shop.products.api import router
from shop.products.api_images import router as images_router
from shop.products.api_internal import router as internal_router
from shop.products.api_search import router as search_router
from shop.products.api_sellables import router as sellables_router
from shop.products.api_variants import router as variants_router
from shop.products.cache import CatalogCache, ReadCacheCollector
from shop.products.config import ProductsSettings
from shop.products.models import outbox
from shop.products.reservation_metrics import reservation_metrics_resource
from shop.products.search import (
    CATEGORY_CHANGED,
    PRODUCT_CHANGED,
    search_outbox_handlers,
    search_resource,
)
from shop.products.storage import media_resource
from shop.products.sweeper import sweeper_resource


def cache_resource(settings: ProductsSettings) -> Resource:
    """The catalog read cache at ``app.state.cache`` (after the Redis resource)."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        app.state.cache = CatalogCache(app.state.redis, settings.cache_ttl_seconds)
        metrics: HttpMetrics = app.state.metrics
        with metrics.collecting(ReadCacheCollector(app.state.cache, metrics.service)):
            yield {}

    return resource


def outbox_resource(settings: ProductsSettings) -> Resource:
    """The one worker of the products outbox: it must know every topic's handler, as
    it takes whatever message is due (list it after the resources handlers use)."""

    def worker(app: FastAPI) -> OutboxWorker:
        handlers = {**search_outbox_handlers(app)}
        return OutboxWorker(
            app.state.sessionmaker,
            outbox,
            handlers,
            poll_interval=settings.outbox_poll_seconds,
            retention=timedelta(seconds=settings.outbox_retention_seconds),
            # The search topics carry an id and nothing secret: kept until purged.
            kept_when_settled={PRODUCT_CHANGED: ("id",), CATEGORY_CHANGED: ("id",)},
        )

    return outbox_worker_resource(worker)


def create_app(settings: ProductsSettings | None = None) -> FastAPI:
    settings = settings or ProductsSettings()  # from the environment
    return create_service_app(
        settings,
        title="Products service",
        description="Catalog, categories, inventory, search and images.",
        # The search router first: GET /api/v1/products is the listing, whatever else says.
        routers=[
            search_router,
            router,
            variants_router,
            internal_router,
            sellables_router,
            images_router,
        ],
        resources=[
            database_resource(settings),
            redis_resource(settings.redis_url),
            identity_resource(settings),
            cache_resource(settings),
            media_resource(settings),
            sweeper_resource(settings.sweeper_interval_seconds),
            reservation_metrics_resource(),
            search_resource(settings),
            outbox_resource(settings),
        ],
    )
