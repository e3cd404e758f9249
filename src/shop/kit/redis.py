"""Redis connection as an app resource (``app.state.redis``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis

from shop.kit.app import Resource
from shop.kit.health import ReadinessCheck


def redis_resource(url: str) -> Resource:
    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        client: Redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        app.state.redis = client

        async def ping() -> None:
            await client.ping()

        try:
            yield {"redis": ping}
        finally:
            await client.aclose()

    return resource


def get_redis(request: Request) -> Redis:
    client: Redis = request.app.state.redis
    return client


RedisClient = Annotated[Redis, Depends(get_redis)]
