"""Connection pool gauges, read from the pools in memory when Prometheus scrapes.

A pool that runs out makes requests wait (and then fail) although Redis (or the
database: :mod:`shop.kit.db_metrics`) is fine: ``in_use`` near the limit says so
before the errors do.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from redis.asyncio import ConnectionPool


class RedisPoolCollector(Collector):
    """``redis_pool_connections``: the Redis client's connections in use and idle."""

    def __init__(self, pool: ConnectionPool, service: str) -> None:
        self.pool = pool
        self.service = service

    def collect(self) -> Iterable[Metric]:
        connections = GaugeMetricFamily(
            "redis_pool_connections",
            "Redis connections of this process's pool, by state (in_use, idle).",
            labels=["service", "state"],
        )
        for count, attributes in self.pool.get_connection_count():
            state = attributes.get("db.client.connection.state")
            name = {"used": "in_use", "idle": "idle"}.get(str(state))
            if name is not None:
                connections.add_metric([self.service, name], count)
        yield connections
