from fastapi import FastAPI

from shop.kit.app import create_service_app
from shop.kit.db import database_resource
from shop.kit.identity import identity_resource
from shop.kit.redis import redis_resource
from shop.orders.api import router
from shop.orders.config import OrdersSettings


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()  # from the environment
    return create_service_app(
        settings,
        title="Orders service",
        description="Order placement with stock reservation, lifecycle, tracking.",
        routers=[router],
        resources=[
            database_resource(settings),
            redis_resource(settings.redis_url),
            identity_resource(settings),
        ],
    )
