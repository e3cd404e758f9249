"""Traces exported over OTLP: a request through the gateway to products is one trace.

The gateway and products run as real processes (``shop serve``), as the tracer
provider is process-wide, and export to a receiver in this test.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shop.cli.processes import free_port
from tests.kit.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.kit.service_process import clean_environment, running, shop_serve
from tests.support import Databases

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # OTLP span kinds


def tree(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    by_service: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        if span.trace_id == CLIENT_TRACE_ID:
            by_service.setdefault(span.service, []).append(span)
    return by_service


def http_call(span: ReceivedSpan) -> bool:
    return span.kind == CLIENT and "http.url" in span.attributes


def complete(spans: list[ReceivedSpan]) -> bool:
    found = tree(spans)
    products = found.get("products", [])
    return (
        any(s.kind == SERVER for s in found.get("gateway", []))
        and any(http_call(s) for s in found.get("gateway", []))
        and any(s.kind == SERVER for s in products)
        and any(s.attributes.get("db.system") == "postgresql" for s in products)
        and any(s.attributes.get("db.system") == "redis" for s in products)
    )


@pytest.mark.xdist_group("processes")
def test_a_request_through_the_gateway_is_one_trace_across_services(
    databases: Databases, redis_url: str, clean_redis: str, tmp_path: Path
) -> None:
    receiver = OtlpReceiver()
    products_port, gateway_port = free_port(), free_port()
    products_url = f"http://127.0.0.1:{products_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    with receiver.running() as collector:
        common = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "REDIS_URL": redis_url,
            "BIND_HOST": "127.0.0.1",
            "SHOP_DATA_DIR": str(tmp_path / "data"),
            "LOG_FORMAT": "json",
            "JWKS_URL": "http://127.0.0.1:9/jwks.json",  # not needed by a public read
        }
        products_env = clean_environment(
            **common,
            PRODUCTS_PORT=str(products_port),
            PRODUCTS_DATABASE_URL=databases.urls["products"],
        )
        gateway_env = clean_environment(
            **common,
            GATEWAY_PORT=str(gateway_port),
            PRODUCTS_URLS=products_url,
            AUTH_URLS="http://127.0.0.1:9",
            ORDERS_URLS="http://127.0.0.1:9",
        )
        with (
            running(shop_serve("products"), products_env, products_url, tmp_path),
            running(shop_serve("gateway"), gateway_env, gateway_url, tmp_path),
        ):
            response = httpx.get(
                gateway_url + "/api/v1/products",
                headers={"traceparent": f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            spans = receiver.wait_for(complete)

    found = tree(spans)
    gateway_server = next(s for s in found["gateway"] if s.kind == SERVER)
    gateway_client = next(s for s in found["gateway"] if http_call(s))
    products_server = next(s for s in found["products"] if s.kind == SERVER)
    # The client's trace continues: client -> gateway -> its call -> products.
    assert gateway_server.parent_span_id == CLIENT_SPAN_ID
    assert gateway_client.parent_span_id == gateway_server.span_id
    assert products_server.parent_span_id == gateway_client.span_id
    assert products_server.name == "GET /api/v1/products"
    # Statements and cache reads are children within the products service.
    product_ids = {s.span_id for s in found["products"]}
    for span in found["products"]:
        if span is not products_server:
            assert span.parent_span_id in product_ids
    assert gateway_client.attributes["http.url"] == products_url + "/api/v1/products"
    # Probes, scrapes and background loops start no trace.
    assert {s.trace_id for s in spans} == {CLIENT_TRACE_ID}
