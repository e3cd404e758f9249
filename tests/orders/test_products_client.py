"""The client of the reservation API against a scripted stand-in: retries, timeouts, headers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from shop.kit.http import create_http_client
from shop.orders.products_client import (
    ProductsClient,
    ProductsRefusedError,
    ProductsUnavailableError,
)
from tests.support import served


@dataclass
class Script:
    """Answers the stand-in gives, in order (the last one repeats); what it was sent."""

    answers: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    seen: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/internal/v1/reservations/{rest:path}", methods=["PUT", "POST"])
        async def answer(request: Request) -> JSONResponse:
            self.seen.append(dict(request.headers))
            delay, status, body = self.answers[min(len(self.seen), len(self.answers)) - 1]
            await asyncio.sleep(delay)
            return JSONResponse(body, status_code=status)

        return app


def _reservation(order_id: uuid.UUID) -> dict[str, Any]:
    """An answer as the contract (shop.kit.contracts.reservations) has it."""
    return {
        "order_id": str(order_id),
        "status": "held",
        "expires_at": "2026-12-01T12:00:00+00:00",
        "lines": [],
    }


@pytest.fixture
def script() -> Iterator[tuple[Script, str]]:
    stand_in = Script()
    with served(stand_in.app()) as url:
        yield stand_in, url


@pytest.fixture
async def client(script: tuple[Script, str]) -> AsyncIterator[ProductsClient]:
    async with create_http_client() as http:
        yield ProductsClient(
            http,
            SecretStr("the-token"),
            urls=[script[1]],
            deadline=2.0,
            read_timeout=0.5,
            breaker_failures=50,
        )


async def test_failures_are_retried_with_the_token_and_the_request_id(
    script: tuple[Script, str], client: ProductsClient
) -> None:
    stand_in, _ = script
    order_id = uuid.uuid4()
    stand_in.answers = [(0, 503, {}), (0, 502, {}), (0, 201, _reservation(order_id))]
    structlog.contextvars.bind_contextvars(request_id="req-orders-1")
    try:
        reservation = await client.reserve(order_id, [(uuid.uuid4(), 1)])
    finally:
        structlog.contextvars.unbind_contextvars("request_id")

    assert reservation.order_id == order_id
    assert len(stand_in.seen) == 3
    assert {h["x-service-token"] for h in stand_in.seen} == {"the-token"}
    assert {h["x-request-id"] for h in stand_in.seen} == {"req-orders-1"}


async def test_an_answer_about_the_reservation_is_final(
    script: tuple[Script, str], client: ProductsClient
) -> None:
    stand_in, _ = script
    body = {"type": "https://shop.dev/problems/insufficient-stock", "status": 409, "errors": []}
    stand_in.answers = [(0, 409, body)]
    with pytest.raises(ProductsRefusedError) as refused:
        await client.commit(uuid.uuid4())
    assert refused.value.type_slug == "insufficient-stock"
    assert len(stand_in.seen) == 1


async def test_a_slow_service_is_given_up_on_within_the_deadline(
    script: tuple[Script, str], client: ProductsClient
) -> None:
    stand_in, _ = script
    stand_in.answers = [(5, 201, _reservation(uuid.uuid4()))]
    started = time.monotonic()
    with pytest.raises(ProductsUnavailableError):
        await client.restock(uuid.uuid4())
    # The 2 s deadline, with room for a loaded machine: short of the 5 s answer, which
    # a client without a deadline would have waited for.
    assert time.monotonic() - started < 4.5
    assert 2 <= len(stand_in.seen) <= 3


async def test_a_wrong_token_is_not_retried(
    script: tuple[Script, str], client: ProductsClient
) -> None:
    stand_in, _ = script
    stand_in.answers = [(0, 401, {"type": "x/service-authentication-required"})]
    with pytest.raises(ProductsUnavailableError, match="service authentication"):
        await client.commit(uuid.uuid4())
    assert len(stand_in.seen) == 1
    client.token = None
    with pytest.raises(ProductsUnavailableError, match="SERVICE_TOKEN"):
        await client.commit(uuid.uuid4())
    assert len(stand_in.seen) == 1


async def test_calls_take_turns_over_the_instances(script: tuple[Script, str]) -> None:
    first, first_url = script
    second = Script()
    for stand_in in (first, second):
        stand_in.answers = [(0, 200, _reservation(uuid.uuid4()))]
    with served(second.app()) as second_url:
        async with create_http_client() as http:
            client = ProductsClient(http, SecretStr("t"), urls=[first_url, second_url])
            for _ in range(4):
                await client.commit(uuid.uuid4())
    assert (len(first.seen), len(second.seen)) == (2, 2)


async def test_a_dead_instance_is_ejected_once_and_the_live_one_takes_the_calls(
    script: tuple[Script, str], dead_url: str
) -> None:
    stand_in, live = script
    stand_in.answers = [(0, 200, _reservation(uuid.uuid4()))]
    async with create_http_client() as http:
        client = ProductsClient(
            http, SecretStr("t"), urls=[dead_url, live], eject_seconds=600, breaker_failures=1
        )
        with structlog.testing.capture_logs() as logs:
            for _ in range(4):
                await client.commit(uuid.uuid4())
    assert len(stand_in.seen) == 4
    assert not client.breaker_open  # a refusal failed over is no failed attempt
    assert client.instances.ejected() == [dead_url]
    assert client.instances.order() == [live, dead_url]
    ejections = [e for e in logs if e["event"] == "products instance ejected"]
    assert [(e["url"], e["reason"]) for e in ejections] == [(dead_url, "ConnectError")]
