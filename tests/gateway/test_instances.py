"""Several instances per service, and services that are down or too slow."""

import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.gateway.services import (
    assert_problem,
    dead_url,
    echo_app,
    gateway_client,
    gateway_settings,
    slow_app,
)
from tests.support import served


@pytest.fixture(scope="module")
def two_products() -> Iterator[list[str]]:
    with served(echo_app("products-1")) as first, served(echo_app("products-2")) as second:
        yield [first, second]


async def test_requests_alternate_between_instances(
    services: dict[str, str], two_products: list[str]
) -> None:
    settings = gateway_settings(services, products_urls=two_products)
    async with gateway_client(settings) as gateway:
        served_by = [(await gateway.get("/api/v1/products")).json()["service"] for _ in range(6)]
    assert served_by[:2] in (["products-1", "products-2"], ["products-2", "products-1"])
    assert served_by == served_by[:2] * 3


async def test_dead_instance_is_skipped(services: dict[str, str], two_products: list[str]) -> None:
    settings = gateway_settings(services, products_urls=[dead_url(), two_products[1]])
    async with gateway_client(settings) as gateway:
        responses = [await gateway.get("/api/v1/categories") for _ in range(4)]
    assert [r.status_code for r in responses] == [200] * 4
    assert {r.json()["service"] for r in responses} == {"products-2"}


async def test_body_is_sent_whole_to_the_instance_that_answers(
    services: dict[str, str], two_products: list[str]
) -> None:
    # Nothing was sent to the dead instance, so even a streamed POST can move on.
    payload = os.urandom(256 * 1024)

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 16 * 1024):
            yield payload[start : start + 16 * 1024]

    settings = gateway_settings(services, products_urls=[dead_url(), two_products[0]])
    async with gateway_client(settings) as gateway:
        for _ in range(2):  # whichever instance's turn it is
            summary = (await gateway.post("/api/v1/products", content=body())).json()
            assert summary["service"] == "products-1"
            assert summary["body_sha256"] == hashlib.sha256(payload).hexdigest()


async def test_service_with_nothing_listening_is_503(services: dict[str, str]) -> None:
    settings = gateway_settings(services, orders_urls=[dead_url(), dead_url()])
    async with gateway_client(settings) as gateway:
        response = await gateway.post("/api/v1/orders", json={"items": []})
        other = await gateway.get("/api/v1/products")
    body = assert_problem(response, 503)
    assert body["type"].endswith("/upstream-unavailable")
    assert "orders" in body["detail"]
    assert response.headers["retry-after"] == "5"
    assert response.headers["x-request-id"]
    # Only the service that is down is affected.
    assert other.status_code == 200


async def test_service_slower_than_the_read_timeout_is_504(services: dict[str, str]) -> None:
    with served(slow_app(seconds=20)) as slow:
        settings = gateway_settings(services, products_urls=[slow], upstream_read_timeout=0.5)
        async with gateway_client(settings) as gateway:
            started = time.monotonic()
            response = await gateway.get("/api/v1/products/1")
            elapsed = time.monotonic() - started
            fast = await gateway.get("/api/v1/orders/1")
    body = assert_problem(response, 504)
    assert body["type"].endswith("/upstream-timeout")
    assert "products" in body["detail"]
    # Far above the 0.5 s timeout (a loaded machine), far below the service's 20 s.
    assert elapsed < 15, f"took {elapsed:.1f}s, the service would have taken 20s"
    assert fast.status_code == 200
