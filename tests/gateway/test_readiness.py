"""The gateway is ready when every service has a ready instance; it is live regardless."""

from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.services import (
    SERVICES,
    assert_problem,
    dead_url,
    echo_app,
    gateway_client,
    gateway_settings,
)
from tests.support import served

# The health checker's loop is alive; its verdicts on instances do not make the gateway unready.
ALL_OK = (
    {"redis": "ok"}
    | {f"upstream:{name}": "ok" for name in SERVICES}
    | {"upstream_health_checks": "ok"}
)


@pytest.fixture(scope="module")
def not_ready() -> Iterator[str]:
    """An instance that answers, but says it is not ready (503)."""
    with served(echo_app("products", ready=False)) as url:
        yield url


async def test_ready_when_every_service_is_ready(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}


async def test_live_is_200(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_not_ready_when_a_service_has_no_instance_up(services: dict[str, str]) -> None:
    settings = gateway_settings(services, orders_urls=[dead_url()])
    async with gateway_client(settings) as gateway:
        response = await gateway.get("/health/ready")
    body = assert_problem(response, 503)
    assert body["checks"] == {**ALL_OK, "upstream:orders": "RuntimeError"}


async def test_not_ready_when_a_service_says_it_is_not(
    services: dict[str, str], not_ready: str
) -> None:
    settings = gateway_settings(services, products_urls=[not_ready])
    async with gateway_client(settings) as gateway:
        response = await gateway.get("/health/ready")
        # Answering is not the same as being ready: it is still proxied to.
        proxied = await gateway.get("/api/v1/products")
    body = assert_problem(response, 503)
    assert body["checks"] == {**ALL_OK, "upstream:products": "RuntimeError"}
    assert proxied.status_code == 200


async def test_one_ready_instance_is_enough(services: dict[str, str], not_ready: str) -> None:
    urls = [dead_url(), not_ready, services["products"]]
    async with gateway_client(gateway_settings(services, products_urls=urls)) as gateway:
        response = await gateway.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == ALL_OK


async def test_live_even_when_every_service_is_down(services: dict[str, str]) -> None:
    down = {name: [dead_url()] for name in ("auth_urls", "products_urls", "orders_urls")}
    async with gateway_client(gateway_settings(services, **down)) as gateway:
        live = await gateway.get("/health/live")
        ready = await gateway.get("/health/ready")
    assert live.status_code == 200
    body = assert_problem(ready, 503)
    assert set(body["checks"]) == set(ALL_OK)
    assert body["checks"]["redis"] == "ok"
    assert [v for k, v in body["checks"].items() if k.startswith("upstream:") and v == "ok"] == []
