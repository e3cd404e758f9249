"""An idempotent request without a body is retried once on another instance when the
first fails after it was sent; a POST or PATCH never is, nor a timeout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.gateway.instances import HangUpServer, hang_up_server, metric, running_gateway
from tests.gateway.services import assert_problem, echo_app, gateway_settings, slow_app
from tests.support import served

# Passive and active ejection would change whose turn it is: only the retries here.
ONLY_RETRIES: dict[str, Any] = {"upstream_health_interval": 0, "upstream_eject_after_errors": 100}


@pytest.fixture
def hang_up() -> Iterator[HangUpServer]:
    with hang_up_server() as server:
        yield server


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    with served(echo_app("products-2")) as url:
        yield url


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
async def test_an_idempotent_request_is_retried_once_on_another_instance(
    services: dict[str, str], hang_up: HangUpServer, echo: str, method: str
) -> None:
    settings = gateway_settings(services, products_urls=[hang_up.url, echo], **ONLY_RETRIES)
    async with running_gateway(settings) as (_, gateway):
        # The first request's turn goes to the first instance, the next one's to the second.
        responses = [await gateway.request(method, "/api/v1/products/7") for _ in range(4)]
        retries = await metric(gateway, "gateway_upstream_retries_total", upstream="products")
    assert [r.status_code for r in responses] == [200] * 4
    assert hang_up.requests == [f"{method} /api/v1/products/7 HTTP/1.1"] * 2
    assert retries == 2.0


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("body", [None, b'{"name": "mug"}'])
async def test_a_post_or_patch_is_never_retried(
    services: dict[str, str], hang_up: HangUpServer, echo: str, method: str, body: bytes | None
) -> None:
    settings = gateway_settings(services, products_urls=[hang_up.url, echo], **ONLY_RETRIES)
    async with running_gateway(settings) as (_, gateway):
        failed = await gateway.request(method, "/api/v1/products/7", content=body)
        answered = await gateway.request(method, "/api/v1/products/7", content=body)
        retries = await metric(gateway, "gateway_upstream_retries_total", upstream="products")
    problem = assert_problem(failed, 502)
    assert problem["type"].endswith("/bad-gateway")
    assert answered.json()["service"] == "products-2"
    assert hang_up.requests == [f"{method} /api/v1/products/7 HTTP/1.1"]
    assert retries == 0.0


async def test_a_request_with_a_body_is_not_retried_even_if_idempotent(
    services: dict[str, str], hang_up: HangUpServer, echo: str
) -> None:
    # Its body was streamed to the first instance: there is nothing left to send again.
    settings = gateway_settings(services, products_urls=[hang_up.url, echo], **ONLY_RETRIES)
    async with running_gateway(settings) as (_, gateway):
        response = await gateway.put("/api/v1/products/7", json={"name": "mug"})
    assert_problem(response, 502)


async def test_a_lone_instance_that_hangs_up_is_502(
    services: dict[str, str], hang_up: HangUpServer
) -> None:
    settings = gateway_settings(services, products_urls=[hang_up.url], **ONLY_RETRIES)
    async with running_gateway(settings) as (_, gateway):
        response = await gateway.get("/api/v1/products/7")
    assert_problem(response, 502)
    assert len(hang_up.requests) == 1


async def test_a_timeout_is_not_retried(services: dict[str, str], echo: str) -> None:
    with served(slow_app(seconds=20)) as slow:
        settings = gateway_settings(
            services, products_urls=[slow, echo], upstream_read_timeout=0.5, **ONLY_RETRIES
        )
        async with running_gateway(settings) as (_, gateway):
            response = await gateway.get("/api/v1/products/7")
            retries = await metric(gateway, "gateway_upstream_retries_total", upstream="products")
    assert_problem(response, 504)
    assert retries == 0.0


async def test_errors_in_a_row_eject_the_instance(
    services: dict[str, str], hang_up: HangUpServer, echo: str
) -> None:
    settings = gateway_settings(
        services,
        products_urls=[hang_up.url, echo],
        upstream_health_interval=0,
        upstream_eject_after_errors=2,
        upstream_eject_seconds=600,
    )
    async with running_gateway(settings) as (upstreams, gateway):
        responses = [await gateway.get("/api/v1/products") for _ in range(8)]
        healthy = await metric(
            gateway, "gateway_upstream_healthy", upstream="products", url=hang_up.url
        )
    assert [r.status_code for r in responses] == [200] * 8
    # Its turns: the 1st and 3rd requests; then it is out.
    assert len(hang_up.requests) == 2
    assert upstreams["products"].ejected() == [hang_up.url]
    assert healthy == 0.0
