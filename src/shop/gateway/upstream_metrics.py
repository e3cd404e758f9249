"""Prometheus metrics of the upstream instances: health, load and retries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fastapi import FastAPI
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shop.gateway.upstreams import Upstream


class UpstreamCollector(Collector):
    """Reads the instances' state at scrape time: a passive ejection ends by the clock,
    so a gauge set on changes would go stale."""

    def __init__(self, upstreams: Sequence[Upstream]) -> None:
        self.upstreams = upstreams

    def collect(self) -> Iterable[Metric]:
        # Not "service" (here, that names the process reporting: the gateway) nor
        # "instance" (Prometheus sets it to the scraped target).
        labels = ["upstream", "url"]
        healthy = GaugeMetricFamily(
            "gateway_upstream_healthy",
            "1 while an instance takes its turns, 0 while it is ejected.",
            labels=labels,
        )
        outstanding = GaugeMetricFamily(
            "gateway_upstream_outstanding_requests",
            "Requests sent to an instance whose answer is not fully relayed yet.",
            labels=labels,
        )
        for upstream in self.upstreams:
            for url in upstream.urls:
                healthy.add_metric([upstream.name, url], float(upstream.is_available(url)))
                outstanding.add_metric([upstream.name, url], float(upstream.outstanding(url)))
        yield healthy
        yield outstanding


def upstream_metrics(app: FastAPI, upstreams: Sequence[Upstream]) -> Counter:
    """Registers the upstream metrics in the app's registry (once); returns the count
    of retries, which the proxy increments."""
    retries: Counter | None = getattr(app.state, "upstream_retries", None)
    if retries is None:
        registry = app.state.metrics.registry
        registry.register(UpstreamCollector(upstreams))
        retries = Counter(
            "gateway_upstream_retries",
            "Idempotent requests sent again to another instance after the first failed.",
            ["upstream"],
            registry=registry,
        )
        for upstream in upstreams:
            retries.labels(upstream.name)  # at 0 from the start, not once the first comes
        app.state.upstream_retries = retries
    return retries
