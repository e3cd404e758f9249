"""Redis connection as an app resource (``app.state.redis``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from shop.kit.health import ReadinessCheck
from shop.kit.metrics import HttpMetrics
from shop.kit.redis_metrics import RedisPoolCollector
from shop.kit.resource import Resource
from shop.kit.tracing import instrument_redis


def redis_resource(url: str) -> Resource:
    """The client at ``app.state.redis``; its pool is on ``/metrics``
    (``redis_pool_connections``), its commands traced when tracing is on."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        # A pooled connection that Redis closed (it restarted) is replaced and the command
        # tried once more at once: the first request after a restart does not fail.
        client: Redis = Redis.from_url(
            url,
            socket_timeout=5,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        instrument_redis(client)
        app.state.redis = client
        metrics: HttpMetrics = app.state.metrics

        async def ping() -> None:
            await client.ping()

        try:
            with metrics.collecting(RedisPoolCollector(client.connection_pool, metrics.service)):
                yield {"redis": ping}
        finally:
            await client.aclose()

    return resource


def get_redis(request: Request) -> Redis:
    client: Redis = request.app.state.redis
    return client


RedisClient = Annotated[Redis, Depends(get_redis)]
