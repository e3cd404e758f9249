"""Gauges measured by a query (the database ...) when Prometheus scrapes.

The values are the whole database's, not one process's: every replica of a
service reports the same figure, so aggregate them with ``max``, never ``sum``.
A query runs at most once per ``max_age`` seconds however often the replicas are
scraped, and at most ``timeout`` seconds: a slow or failing database leaves the
gauges out of the scrape (absent, not stale) instead of holding ``/metrics`` up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# Name of each gauge -> its value.
Query = Callable[[], Awaitable[Mapping[str, float]]]

log = structlog.get_logger("shop.metrics")


class QueriedGauges(Collector):
    """Gauges named in ``documentation`` (name -> help text), labelled with the service."""

    def __init__(
        self,
        service: str,
        documentation: Mapping[str, str],
        query: Query,
        *,
        max_age: float = 5.0,
        timeout: float = 2.0,
    ) -> None:
        self.service = service
        self.documentation = dict(documentation)
        self.query = query
        self.max_age = max_age
        self.timeout = timeout
        self.values: Mapping[str, float] = {}
        self.measured_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Runs the query unless its last answer is recent enough; never raises."""
        async with self._lock:  # concurrent scrapes share one query
            if time.monotonic() - self.measured_at < self.max_age:
                return
            try:
                self.values = await asyncio.wait_for(self.query(), self.timeout)
            except Exception as exc:  # its text may hold a host name: the type says enough
                log.warning(
                    "metrics query failed",
                    metrics=list(self.documentation),
                    error=type(exc).__name__,
                )
                self.values = {}
            self.measured_at = time.monotonic()

    def describe(self) -> Iterable[Metric]:
        return [self._family(name) for name in self.documentation]

    def collect(self) -> Iterable[Metric]:
        for name in self.documentation:
            if name in self.values:
                family = self._family(name)
                family.add_metric([self.service], self.values[name])
                yield family

    def _family(self, name: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, self.documentation[name], labels=["service"])
