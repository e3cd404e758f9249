"""Requests go to the instance with the fewest outstanding requests, ties in turn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from shop.gateway.upstreams import Upstream
from tests.gateway.instances import Switches, eventually, metric, running_gateway, switchable_app
from tests.gateway.services import gateway_settings
from tests.support import served


def test_the_least_loaded_instance_goes_first_and_equals_take_turns() -> None:
    upstream = Upstream("products", ["http://a", "http://b", "http://c"])
    assert [upstream.order()[0] for _ in range(3)] == ["http://a", "http://b", "http://c"]

    busy = [upstream.lease("http://a"), upstream.lease("http://a"), upstream.lease("http://b")]
    assert upstream.order() == ["http://c", "http://b", "http://a"]
    busy[0].release()
    busy[0].release()  # a second release of the same lease changes nothing
    assert upstream.outstanding("http://a") == 1
    # a and b now have one each: c first, then a and b in turn.
    orders = [upstream.order() for _ in range(2)]
    assert [order[0] for order in orders] == ["http://c"] * 2
    assert {tuple(order[1:]) for order in orders} == {
        ("http://a", "http://b"),
        ("http://b", "http://a"),
    }


def test_ejected_instances_come_after_every_available_one_however_loaded() -> None:
    upstream = Upstream("products", ["http://a", "http://b"], eject_seconds=60)
    upstream.eject("http://a")
    leases = [upstream.lease("http://b") for _ in range(5)]
    assert upstream.order() == ["http://b", "http://a"]
    for lease in leases:
        lease.release()


async def outstanding(gateway: httpx.AsyncClient, url: str) -> float | None:
    name = "gateway_upstream_outstanding_requests"
    return await metric(gateway, name, upstream="products", url=url)


async def served_by(gateway: httpx.AsyncClient, times: int) -> list[str]:
    return [(await gateway.get("/api/v1/products")).json()["service"] for _ in range(times)]


@pytest.fixture
def switches() -> Iterator[list[Switches]]:
    both = [Switches(), Switches()]
    yield both
    for switch in both:
        switch.go.set()  # no request left waiting when the servers stop


async def test_a_busy_instance_is_passed_over_until_it_is_done(
    services: dict[str, str], switches: list[Switches]
) -> None:
    with (
        served(switchable_app("products-1", switches[0])) as first,
        served(switchable_app("products-2", switches[1])) as second,
    ):
        settings = gateway_settings(services, products_urls=[first, second])
        async with running_gateway(settings) as (upstreams, gateway):
            products = upstreams["products"]
            slow = asyncio.create_task(gateway.get("/api/v1/products/slow"))
            await eventually(lambda: sum(products.outstanding(u) for u in products.urls) == 1)
            busy = next(url for url in products.urls if products.outstanding(url))
            idle = next(url for url in products.urls if url != busy)
            assert await outstanding(gateway, busy) == 1.0

            idle_name = "products-1" if idle == first else "products-2"
            assert await served_by(gateway, 4) == [idle_name] * 4

            for switch in switches:
                switch.go.set()
            assert (await slow).status_code == 200
            await eventually(lambda: products.outstanding(busy) == 0)
            assert sorted(await served_by(gateway, 4)) == ["products-1"] * 2 + ["products-2"] * 2
            assert await outstanding(gateway, busy) == 0.0
