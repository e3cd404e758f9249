"""The gateway is ready when every service has a ready instance, as its active health
checks last saw them (a probe sends no request to any service); it is live regardless."""

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from shop.gateway.health_checks import HealthChecker
from shop.gateway.upstreams import Upstream
from shop.kit.health import run_checks
from tests.gateway.instances import eventually
from tests.gateway.services import (
    SERVICES,
    assert_problem,
    dead_url,
    echo_app,
    gateway_client,
    gateway_settings,
)
from tests.support import served

# The services whose readiness the gateway's depends on (the dashboard's does not).
API_SERVICES = [name for name in SERVICES if name != "admin"]
# The health checker's loop is alive; its verdicts on instances do not make the gateway unready.
ALL_OK = (
    {"redis": "ok"}
    | {f"upstream:{name}": "ok" for name in API_SERVICES}
    | {"upstream_health_checks": "ok"}
)


@pytest.fixture(scope="module")
def not_ready() -> Iterator[str]:
    """An instance that answers, but says it is not ready (503)."""
    with served(echo_app("products", ready=False)) as url:
        yield url


async def readiness(gateway: httpx.AsyncClient) -> httpx.Response:
    """The gateway's readiness once its first round of health checks has finished."""
    answers: list[httpx.Response] = []

    async def checked() -> bool:
        answers.append(await gateway.get("/health/ready"))
        checks: dict[str, Any] = answers[-1].json().get("checks", {})
        return "NotCheckedYetError" not in checks.values()

    await eventually(checked, within=15)
    return answers[-1]


async def test_ready_when_every_service_is_ready(gateway: httpx.AsyncClient) -> None:
    response = await readiness(gateway)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}


async def test_live_is_200(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_not_ready_when_a_service_has_no_instance_up(services: dict[str, str]) -> None:
    settings = gateway_settings(services, orders_urls=[dead_url()])
    async with gateway_client(settings) as gateway:
        response = await readiness(gateway)
    body = assert_problem(response, 503)
    assert body["checks"] == {**ALL_OK, "upstream:orders": "NoReadyInstanceError"}


async def test_not_ready_when_a_service_says_it_is_not(
    services: dict[str, str], not_ready: str
) -> None:
    settings = gateway_settings(services, products_urls=[not_ready])
    async with gateway_client(settings) as gateway:
        response = await readiness(gateway)
        # Answering is not the same as being ready: it is still proxied to.
        proxied = await gateway.get("/api/v1/products")
    body = assert_problem(response, 503)
    assert body["checks"] == {**ALL_OK, "upstream:products": "NoReadyInstanceError"}
    assert proxied.status_code == 200


async def test_one_ready_instance_is_enough(services: dict[str, str], not_ready: str) -> None:
    urls = [dead_url(), not_ready, services["products"]]
    async with gateway_client(gateway_settings(services, products_urls=urls)) as gateway:
        response = await readiness(gateway)
    assert response.status_code == 200
    assert response.json()["checks"] == ALL_OK


async def test_live_even_when_every_service_is_down(services: dict[str, str]) -> None:
    down = {
        name: [dead_url()] for name in ("auth_urls", "products_urls", "orders_urls", "admin_urls")
    }
    async with gateway_client(gateway_settings(services, **down)) as gateway:
        live = await gateway.get("/health/live")
        ready = await readiness(gateway)
    assert live.status_code == 200
    body = assert_problem(ready, 503)
    assert set(body["checks"]) == set(ALL_OK)
    assert body["checks"]["redis"] == "ok"
    assert [v for k, v in body["checks"].items() if k.startswith("upstream:") and v == "ok"] == []


async def test_not_ready_before_the_first_round_of_checks(services: dict[str, str]) -> None:
    upstreams = [Upstream(name, [services[name]]) for name in SERVICES]
    checker = HealthChecker(upstreams, interval=60)
    checks = checker.readiness_checks()
    before = await run_checks(checks, 1.0)
    assert before == {f"upstream:{name}": "NotCheckedYetError" for name in API_SERVICES}
    async with httpx.AsyncClient() as client:
        await checker.check_all(client)
    assert await run_checks(checks, 1.0) == {f"upstream:{name}": "ok" for name in API_SERVICES}


def slow_ready_app(name: str, delay: float) -> FastAPI:
    """Ready, after thinking ``delay`` seconds about it."""
    app = FastAPI(title=name)

    @app.get("/health/ready")
    async def health_ready() -> Response:
        await asyncio.sleep(delay)
        return JSONResponse({"status": "ok"})

    return app


async def test_serves_only_once_the_first_round_has_finished(services: dict[str, str]) -> None:
    """Ready on the very first probe, even when an instance is slow to answer its check:
    no 503 "not checked yet" in a gateway's first seconds (a scaled gateway's twin
    on the same port would answer it while the other is ready)."""
    with served(slow_ready_app("products", delay=0.5)) as slow:
        settings = gateway_settings(services, products_urls=[slow])
        async with gateway_client(settings) as gateway:
            response = await gateway.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}


def counting_app(name: str, probes: list[str]) -> FastAPI:
    """Ready, and counts each readiness check it is asked."""
    app = FastAPI(title=name)

    @app.get("/health/ready")
    async def health_ready(request: Request) -> Response:
        probes.append(request.url.path)
        return JSONResponse({"status": "ok"})

    return app


async def test_a_probe_of_the_gateway_sends_nothing_to_the_services(
    services: dict[str, str],
) -> None:
    probes: list[str] = []
    with served(counting_app("products", probes)) as counted:
        # One round of checks at start-up, the next a minute later.
        settings = gateway_settings(services, products_urls=[counted], upstream_health_interval=60)
        async with gateway_client(settings) as gateway:
            assert (await readiness(gateway)).status_code == 200
            checked = len(probes)
            answers = [await gateway.get("/health/ready") for _ in range(50)]
        assert {answer.status_code for answer in answers} == {200}
    assert checked == 1
    assert len(probes) == 1


async def test_the_dashboard_down_leaves_the_gateway_ready(services: dict[str, str]) -> None:
    settings = gateway_settings(services, admin_urls=[dead_url()])
    async with gateway_client(settings) as gateway:
        ready = await readiness(gateway)
        assert ready.status_code == 200, ready.text
        assert "upstream:admin" not in ready.json()["checks"]
