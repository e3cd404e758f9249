"""The products service's restock call, which the orders service uses to give stock back.

Releasing a committed reservation is refused (409), by design of the reservation API;
a cancelled order's units come back through ``POST .../{order_id}/restock``, which
releases a held reservation and returns a committed one's units to the shelf.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shop.products.models import ReservationStatus, StockReason
from tests.products.reservation_support import (
    API,
    SERVICE,
    ReservationsEnv,
    problem,
    reservations_env,
)
from tests.support import Databases


@pytest.fixture
async def env(
    databases: Databases, redis_url: str, tmp_path: Path
) -> AsyncIterator[ReservationsEnv]:
    async with reservations_env(databases, redis_url, tmp_path) as running:
        yield running


async def _restock(env: ReservationsEnv, order_id: uuid.UUID) -> dict[str, object]:
    response = await env.client.post(f"{API}/{order_id}/restock", headers=SERVICE)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_committed_reservation_goes_back_on_the_shelf(env: ReservationsEnv) -> None:
    product = await env.books.product(5)
    order_id = uuid.uuid4()
    await env.reserve(order_id, (product, 2))
    await env.commit(order_id)
    assert await env.books.levels(product) == (3, 0)
    problem(await env.release(order_id), 409, "reservation-committed")

    body = await _restock(env, order_id)

    assert body["status"] == "released"
    assert await env.books.levels(product) == (5, 0)
    returned = (await env.books.ledger(product, order_id))[-1]
    assert (returned.reason, returned.on_hand_delta, returned.reserved_delta) == (
        StockReason.RELEASE,
        2,
        0,
    )
    assert "cancelled" in returned.note
    assert await _restock(env, order_id) == body  # again: nothing more comes back
    assert await env.books.levels(product) == (5, 0)
    problem(await env.commit(order_id), 409, "reservation-released")
    await env.books.assert_balanced(product)


async def test_a_held_reservation_is_released_and_an_unknown_one_tombstoned(
    env: ReservationsEnv,
) -> None:
    product = await env.books.product(5)
    held, unknown = uuid.uuid4(), uuid.uuid4()
    await env.reserve(held, (product, 2))

    assert (await _restock(env, held))["status"] == "released"
    assert (await _restock(env, unknown))["lines"] == []

    assert await env.books.levels(product) == (5, 0)
    reservation = await env.books.reservation(unknown)
    assert reservation is not None
    assert reservation.status == ReservationStatus.RELEASED
    problem(await env.reserve(unknown, (product, 1)), 409, "reservation-released")
    await env.books.assert_balanced(product)


async def test_restock_needs_the_service_token(env: ReservationsEnv) -> None:
    response = await env.client.post(f"{API}/{uuid.uuid4()}/restock")
    problem(response, 401, "service-authentication-required")
