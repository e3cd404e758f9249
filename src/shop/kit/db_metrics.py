"""The database pool's gauges, read from the pool in memory when Prometheus scrapes
(a module of its own so that the gateway, which has no database, never loads it)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool


class DatabasePoolCollector(Collector):
    """``db_pool_*`` of one engine: connections in use and idle, and the limits."""

    def __init__(self, engine: AsyncEngine, service: str, max_connections: int) -> None:
        self.engine = engine
        self.service = service
        self.max_connections = max_connections

    def collect(self) -> Iterable[Metric]:
        pool = self.engine.pool
        connections = GaugeMetricFamily(
            "db_pool_connections",
            "Database connections of this process's pool, by state (in_use, idle).",
            labels=["service", "state"],
        )
        limit = GaugeMetricFamily(
            "db_pool_max_connections",
            "Most database connections this process's pool may open (size + overflow).",
            labels=["service"],
        )
        limit.add_metric([self.service], self.max_connections)
        if isinstance(pool, QueuePool):
            connections.add_metric([self.service, "in_use"], pool.checkedout())
            connections.add_metric([self.service, "idle"], pool.checkedin())
        yield connections
        yield limit
