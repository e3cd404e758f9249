from fastapi import FastAPI

from shop.auth.api import router
from shop.auth.config import AuthSettings
from shop.kit.app import create_service_app
from shop.kit.db import database_resource
from shop.kit.redis import redis_resource


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()  # from the environment
    return create_service_app(
        settings,
        title="Auth service",
        description="Registration, email verification, login, tokens, sessions and roles.",
        routers=[router],
        resources=[database_resource(settings), redis_resource(settings.redis_url)],
    )
