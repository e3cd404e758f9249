"""Every error is an RFC 9457 problem response, and none reveals internals."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.kit.probe_app import create_probe_app
from tests.support import Databases, app_client

PROBLEM = "application/problem+json"


@pytest.fixture
async def client(databases: Databases, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_probe_app(databases.urls["products"], redis_url)) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert response.headers["x-request-id"]
    return body


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/probe/items/1")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


async def test_business_errors_keep_their_status_and_extras(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/probe/items/404"), 404)
    assert body["detail"] == "No item 404 here."
    assert body["type"].endswith("/not-found")
    body = assert_problem(await client.get("/api/v1/probe/items/409"), 409)
    assert body["errors"] == [{"field": "id", "message": "taken"}]


async def test_validation_errors_name_each_field(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/probe/items/abc"), 422)
    assert body["errors"][0]["field"] == "item_id"
    body = assert_problem(await client.post("/api/v1/probe/echo-size", json={"body": ""}), 422)
    assert [e["field"] for e in body["errors"]] == ["body"]


async def test_unknown_fields_are_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/probe/echo-size", json={"body": "x", "admin": True})
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "admin"


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/probe/echo-size",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422)


async def test_unexpected_error_is_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/probe/boom", headers={"x-request-id": "trace-me-1"})
    body = assert_problem(response, 500)
    assert body["detail"] == "An unexpected error occurred."
    assert response.headers["x-request-id"] == "trace-me-1"
    text = response.text
    for leak in ("hunter2", "db-internal", "Traceback", "SecretError"):
        assert leak not in text


async def test_body_over_limit_by_header_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/probe/echo-size", content=b"x" * 2048)
    assert_problem(response, 413)


async def test_body_over_limit_while_streaming_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 512  # no Content-Length: the limit is enforced as bytes arrive

    response = await client.post(
        "/api/v1/probe/echo-size", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)
