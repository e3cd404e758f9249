"""Prometheus metrics: request count and latency per route template and status.

Resources add what they measure to the same registry while they are open
(:meth:`HttpMetrics.collecting`): the database and Redis pools, the outbox
backlog, the reservations held ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render_metrics
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"

# Awaited before each scrape, for values that take I/O to measure; must not raise.
Refresh = Callable[[], Awaitable[None]]


class HttpMetrics:
    """The metrics of one service, in a registry of its own: its HTTP requests, and
    whatever its resources register."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ["service", "method", "route", "status"]
        self.service = service
        self.requests = Counter(
            "http_requests_total", "HTTP requests handled.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request.",
            labels,
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.refreshes: list[Refresh] = []
        # The children of both metrics per label values, looked up once: labels() costs
        # more than the increment itself. As bounded as the labels (route templates).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    @contextmanager
    def collecting(self, collector: Collector, refresh: Refresh | None = None) -> Iterator[None]:
        """Scrapes ``collector`` with the rest while the block runs (a resource's
        lifetime), awaiting ``refresh`` first on each scrape."""
        self.registry.register(collector)
        if refresh is not None:
            self.refreshes.append(refresh)
        try:
            yield
        finally:
            if refresh is not None:
                self.refreshes.remove(refresh)
            self.registry.unregister(collector)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            labels = (self.service, method, route, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    async def endpoint(self, _: Request) -> Response:
        await asyncio.gather(*(refresh() for refresh in self.refreshes))
        return Response(render_metrics(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    """The path template of the route that matched (never the raw path: bounded labels).

    The router records the matched route in the scope, which the middleware
    shares with the app.
    """
    route = scope.get("route")
    return str(getattr(route, "path", UNMATCHED))


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = route_template(scope)
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
