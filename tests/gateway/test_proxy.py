"""Requests reach the service that owns their path, and arrive as the client sent them."""

import hashlib
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.gateway.services import assert_problem, header_values

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/auth", "auth"),
        ("/api/v1/auth/login", "auth"),
        ("/api/v1/categories", "products"),
        ("/api/v1/categories/x", "products"),
        ("/api/v1/products", "products"),
        ("/api/v1/products/42/images", "products"),
        ("/api/v1/orders", "orders"),
        ("/api/v1/orders/7/cancel", "orders"),
    ],
)
async def test_each_prefix_reaches_its_service(
    gateway: httpx.AsyncClient, path: str, service: str
) -> None:
    response = await gateway.get(path)
    assert response.status_code == 200
    summary = response.json()
    assert summary["service"] == service
    assert summary["raw_path"] == path


@pytest.mark.parametrize("path", ["/nope", "/api/v1", "/api/v1/authx", "/api/v2/products"])
async def test_unknown_paths_are_404_problems(gateway: httpx.AsyncClient, path: str) -> None:
    response = await gateway.get(path)
    assert_problem(response, 404)
    assert response.headers["x-request-id"]


async def test_query_string_is_preserved_verbatim(gateway: httpx.AsyncClient) -> None:
    query = "q=red%20shoes&tag=a&tag=b&empty=&plus=a+b&amp=%26"
    response = await gateway.get("/api/v1/products/search?" + query)
    summary = response.json()
    assert summary["raw_path"] == "/api/v1/products/search"
    assert summary["query"] == query


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/products/a%2Fb",  # an encoded slash is part of one segment, not a separator
        "/api/v1/products/100%2541",  # an encoded percent sign must not be decoded twice
        "/api/v1/products/what%3Fnot%23this",
        "/api/v1/products/red%20shoes/caf%C3%A9",
    ],
)
async def test_encoded_path_reaches_the_service_unchanged(
    gateway: httpx.AsyncClient, path: str
) -> None:
    summary = (await gateway.get(path + "?x=1")).json()
    assert summary["raw_path"] == path
    assert summary["query"] == "x=1"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_method_and_body_arrive_intact(gateway: httpx.AsyncClient, method: str) -> None:
    body = b'{"name": "mug", "price": "9.50", "note": "\xc3\xa9t\xc3\xa9"}'
    response = await gateway.request(
        method, "/api/v1/orders/7", content=body, headers={"content-type": "application/json"}
    )
    summary = response.json()
    assert summary["method"] == method
    assert summary["body_length"] == len(body)
    assert summary["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert header_values(summary, "content-type") == ["application/json"]
    assert header_values(summary, "content-length") == [str(len(body))]


async def test_request_without_body_is_forwarded_without_one(gateway: httpx.AsyncClient) -> None:
    summary = (await gateway.get("/api/v1/products")).json()
    assert summary["body_length"] == 0
    # No body framing the client did not send (a chunked GET upsets some servers).
    assert header_values(summary, "transfer-encoding") == []
    assert header_values(summary, "content-length") == []


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
async def test_head_and_options_are_forwarded(gateway: httpx.AsyncClient, method: str) -> None:
    response = await gateway.request(method, "/api/v1/categories/x")
    assert response.status_code == 200
    if method == "HEAD":
        assert response.content == b""
        assert int(response.headers["content-length"]) > 0
    else:
        assert response.json()["method"] == "OPTIONS"


async def chunks_of(payload: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


async def test_large_streamed_body_arrives_intact(gateway: httpx.AsyncClient) -> None:
    payload = os.urandom(3 * MIB)
    # An async generator: sent chunked, without a Content-Length.
    response = await gateway.post("/api/v1/products/42/images", content=chunks_of(payload))
    assert response.status_code == 200
    summary = response.json()
    assert summary["body_length"] == len(payload)
    assert summary["body_sha256"] == hashlib.sha256(payload).hexdigest()
    # Streamed on to the service too, not buffered into a Content-Length body.
    assert header_values(summary, "transfer-encoding") == ["chunked"]
    assert header_values(summary, "content-length") == []


async def test_large_response_body_streams_back_intact(gateway: httpx.AsyncClient) -> None:
    payload = os.urandom(3 * MIB)
    # Sent to the upload route: other routes take no more than 1 MiB.
    response = await gateway.post(
        "/api/v1/products/42/images", content=chunks_of(payload), headers={"x-echo-body": "1"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-echo"
    assert response.content == payload


@pytest.mark.parametrize("status", [201, 204, 404, 409, 418, 500])
async def test_status_and_body_pass_through(gateway: httpx.AsyncClient, status: int) -> None:
    response = await gateway.post(
        "/api/v1/orders", json={"items": []}, headers={"x-respond-status": str(status)}
    )
    assert response.status_code == status
    if status == 204:
        assert response.content == b""
    else:
        # The service's own answer, not a problem document made up by the gateway.
        assert response.headers["content-type"] == "application/json"
        assert response.json()["service"] == "orders"
