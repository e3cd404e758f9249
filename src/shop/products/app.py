from fastapi import FastAPI

from shop.kit.app import create_service_app
from shop.kit.db import database_resource
from shop.kit.identity import identity_resource
from shop.kit.redis import redis_resource
from shop.products.api import router
from shop.products.config import ProductsSettings


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
        ],
    )
