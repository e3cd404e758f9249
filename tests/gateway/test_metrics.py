"""The gateway's /metrics counts requests by route template and status."""

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.services import dead_url, gateway_client, gateway_settings

Counts = dict[tuple[str, str, str], float]


async def request_counts(gateway: httpx.AsyncClient) -> Counts:
    """http_requests_total of the gateway, by (method, route, status)."""
    response = await gateway.get("/metrics")
    assert response.status_code == 200
    counts: Counts = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "http_requests_total":
                assert sample.labels["service"] == "gateway"
                labels = sample.labels
                counts[labels["method"], labels["route"], labels["status"]] = sample.value
    return counts


async def counts_including(gateway: httpx.AsyncClient, expected: Counts) -> Counts:
    """The counts once they include ``expected``: a request is counted just after its
    response is sent, so the last one may take a moment to show."""
    deadline = time.monotonic() + 20
    while True:
        counts = await request_counts(gateway)
        if expected.items() <= counts.items() or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.02)


async def test_requests_are_counted_by_route_template_and_status(
    services: dict[str, str],
) -> None:
    settings = gateway_settings(services, orders_urls=[dead_url()])
    async with gateway_client(settings) as gateway:
        for product in ("1", "2", "3/images?size=large"):
            await gateway.get(f"/api/v1/products/{product}")
        await gateway.get("/api/v1/products/4", headers={"x-respond-status": "404"})
        await gateway.post("/api/v1/products", json={"name": "mug"})
        await gateway.post("/api/v1/orders/1")  # nothing listening: 503
        await gateway.get("/nope")
        await gateway.get("/also/nope")
        expected = {
            ("GET", "/api/v1/products/{path:path}", "200"): 3.0,
            ("GET", "/api/v1/products/{path:path}", "404"): 1.0,
            ("POST", "/api/v1/products", "200"): 1.0,
            ("POST", "/api/v1/orders/{path:path}", "503"): 1.0,
            ("GET", "<unmatched>", "404"): 2.0,
        }
        counts = await counts_including(gateway, expected)
    assert expected.items() <= counts.items()
    # Raw paths never become labels: their number is unbounded.
    assert {route for _, route, _ in counts} - {"/metrics"} == {
        "/api/v1/products/{path:path}",
        "/api/v1/products",
        "/api/v1/orders/{path:path}",
        "<unmatched>",
    }


async def test_each_gateway_counts_its_own_requests(gateway: httpx.AsyncClient) -> None:
    assert not [key for key in await request_counts(gateway) if key[1].startswith("/api")]
    await gateway.get("/api/v1/auth/me")
    counts = await counts_including(gateway, {("GET", "/api/v1/auth/{path:path}", "200"): 1.0})
    assert counts[("GET", "/api/v1/auth/{path:path}", "200")] == 1.0
