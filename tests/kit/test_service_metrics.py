"""Metrics resources add to /metrics: the database and Redis pools, queried gauges."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.kit.metrics import HttpMetrics
from shop.kit.queried_metrics import QueriedGauges
from tests.kit.probe_app import create_probe_app
from tests.support import Databases, app_client


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, by name and sorted labels."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def pool(name: str, state: str, service: str = "probe") -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, (("service", service), ("state", state)))


async def test_database_and_redis_pools_are_measured_as_they_are(
    databases: Databases, redis_url: str
) -> None:
    app = create_probe_app(databases.urls["products"], redis_url)
    async with app_client(app) as client:
        assert (await client.get("/health/ready")).status_code == 200  # one of each opened
        idle = await scrape(client)
        assert idle[pool("db_pool_connections", "in_use")] == 0
        assert idle[pool("db_pool_connections", "idle")] >= 1
        settings = app.state.settings
        limit = settings.database_pool_size + settings.database_max_overflow
        assert idle[("db_pool_max_connections", (("service", "probe"),))] == limit
        assert idle[pool("redis_pool_connections", "in_use")] == 0
        assert idle[pool("redis_pool_connections", "idle")] >= 1

        engine: AsyncEngine = app.state.engine
        redis: Redis = app.state.redis
        async with engine.connect():
            connection = await redis.connection_pool.get_connection()
            try:
                busy = await scrape(client)
            finally:
                await redis.connection_pool.release(connection)
        assert busy[pool("db_pool_connections", "in_use")] == 1
        assert busy[pool("redis_pool_connections", "in_use")] == 1
    # Closed with the app: nothing left registered.
    metrics: HttpMetrics = app.state.metrics
    assert "db_pool" not in generate_latest(metrics.registry).decode()


class Counting:
    def __init__(self, value: float = 1.0, pause: float = 0.0, fail: bool = False) -> None:
        self.calls = 0
        self.value = value
        self.pause = pause
        self.fail = fail

    async def __call__(self) -> Mapping[str, float]:
        self.calls += 1
        await asyncio.sleep(self.pause)
        if self.fail:
            raise RuntimeError("postgresql://user:secret@db.internal is down")
        return {"things_pending": self.value}


def rendered(gauges: QueriedGauges) -> str:
    registry = CollectorRegistry()
    registry.register(gauges)
    return generate_latest(registry).decode()


async def test_queried_gauges_run_their_query_at_most_once_per_max_age() -> None:
    query = Counting(3)
    gauges = QueriedGauges("svc", {"things_pending": "Things."}, query, max_age=60)
    assert "things_pending{" not in rendered(gauges)  # never measured: absent
    await asyncio.gather(gauges.refresh(), gauges.refresh(), gauges.refresh())
    await gauges.refresh()
    assert query.calls == 1
    assert 'things_pending{service="svc"} 3.0' in rendered(gauges)

    fresh = QueriedGauges("svc", {"things_pending": "Things."}, query, max_age=0)
    await fresh.refresh()
    await fresh.refresh()
    assert query.calls == 3


async def test_a_failing_or_slow_query_leaves_the_gauges_out() -> None:
    failing = QueriedGauges("svc", {"things_pending": "T."}, Counting(fail=True), max_age=0)
    await failing.refresh()
    assert "things_pending{" not in rendered(failing)
    slow = QueriedGauges("svc", {"things_pending": "T."}, Counting(pause=5), timeout=0.05)
    async with asyncio.timeout(2):
        await slow.refresh()
    assert "things_pending{" not in rendered(slow)
