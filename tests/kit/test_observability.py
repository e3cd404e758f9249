"""Request IDs, structured logs, metrics, readiness and the inter-service client."""

import io
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from shop.cli.processes import free_port
from shop.kit.logging import configure_logging
from tests.kit.probe_app import create_probe_app
from tests.support import Databases, app_client, served


@pytest.fixture
async def client(databases: Databases, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_probe_app(databases.urls["products"], redis_url)) as client:
        yield client


async def test_request_id_is_echoed_when_sane_and_generated_otherwise(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get("/api/v1/probe/items/1", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/api/v1/probe/items/1")
    assert len(generated.headers["x-request-id"]) == 32
    hostile = await client.get("/api/v1/probe/items/1", headers={"x-request-id": "a\tb" * 100})
    assert hostile.headers["x-request-id"] != "a\tb" * 100


async def test_log_lines_are_json_with_service_and_request_id(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    try:
        await client.get("/api/v1/probe/items/7", headers={"x-request-id": "log-me"})
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["event"] == "request"]
    assert access, lines
    assert access[0]["service"] == "probe"
    assert access[0]["request_id"] == "log-me"
    assert access[0]["status"] == 200
    assert access[0]["path"] == "/api/v1/probe/items/7"


async def test_health_probes_are_counted_but_not_access_logged_at_info(
    client: httpx.AsyncClient,
) -> None:
    """The gateway polls every upstream's readiness every few seconds: at info, those
    lines buried everything else. They are debug lines now, and still counted."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    try:
        for path in ("/health/live", "/health/ready", "/api/v1/probe/items/3"):
            await client.get(path)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["path"] for line in lines if line["event"] == "request"] == [
        "/api/v1/probe/items/3"
    ]
    text = (await client.get("/metrics")).text
    for route in ("/health/live", "/health/ready"):
        assert f'method="GET",route="{route}",service="probe",status="200"}} 1.0' in text


def test_console_format_is_human_readable() -> None:
    configure_logging("probe", "console")
    try:
        formatter = logging.getLogger().handlers[0].formatter
        assert formatter is not None
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello there", None, None)
        line = formatter.format(record)
        assert "hello there" in line
        assert not line.startswith("{")
    finally:
        configure_logging("probe", "json")


async def test_metrics_count_by_route_template_and_status(client: httpx.AsyncClient) -> None:
    for item in (1, 2, 404):
        await client.get(f"/api/v1/probe/items/{item}")
    await client.get("/no/such/path")
    text = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/api/v1/probe/items/{item_id}",'
        'service="probe",status="200"} 2.0'
    ) in text
    assert 'route="/api/v1/probe/items/{item_id}",service="probe",status="404"} 1.0' in text
    assert 'route="<unmatched>",service="probe",status="404"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
    assert "/api/v1/probe/items/2" not in text  # raw paths never become labels


async def test_ready_when_database_and_redis_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert (await client.get("/health/live")).json() == {"status": "ok"}


async def test_not_ready_when_redis_is_down(databases: Databases) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    async with app_client(create_probe_app(databases.urls["products"], dead_redis)) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["redis"] != "ok"


async def test_http_client_forwards_the_request_id(client: httpx.AsyncClient) -> None:
    upstream = FastAPI()

    @upstream.get("/whoami")
    async def whoami(request: Request) -> dict[str, str | None]:
        return {"request_id": request.headers.get("x-request-id")}

    with served(upstream) as base_url:
        response = await client.get(
            "/api/v1/probe/relay",
            params={"target": base_url + "/whoami"},
            headers={"x-request-id": "follow-me"},
        )
    assert response.json() == {"forwarded_request_id": "follow-me"}
