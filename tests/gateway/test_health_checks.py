"""Active health checks eject an instance that fails them and take it back once it passes."""

from __future__ import annotations

import httpx

from shop.cli.processes import free_port
from shop.gateway.upstreams import Upstream
from tests.gateway.instances import Switches, eventually, metric, running_gateway, switchable_app
from tests.gateway.services import echo_app, gateway_settings
from tests.support import served


def test_failed_checks_in_a_row_eject_until_one_passes() -> None:
    upstream = Upstream("products", ["http://a", "http://b"], unhealthy_after=2)
    assert upstream.check_failed("http://a") is False
    assert upstream.check_passed("http://a") is False  # one failure is forgiven
    assert upstream.check_failed("http://a") is False
    assert upstream.check_failed("http://a") is True
    assert upstream.check_failed("http://a") is False  # already out: reported once
    assert upstream.ejected() == ["http://a"]
    assert upstream.order()[-1] == "http://a"
    assert upstream.check_passed("http://a") is True
    assert upstream.ejected() == []


def test_a_passing_check_ends_a_cool_down_only_after_a_failed_one() -> None:
    upstream = Upstream("products", ["http://a", "http://b"], eject_seconds=60)
    upstream.eject("http://a")
    # It fails real traffic but says it is fine: it waits out its cool-down.
    assert upstream.check_passed("http://a") is False
    assert upstream.ejected() == ["http://a"]
    # Seen down, then up: it was restarted.
    upstream.check_failed("http://a")
    assert upstream.check_passed("http://a") is True
    assert upstream.ejected() == []


async def served_by(gateway: httpx.AsyncClient, times: int) -> set[str]:
    responses = [await gateway.get("/api/v1/products") for _ in range(times)]
    assert [r.status_code for r in responses] == [200] * times
    return {r.json()["service"] for r in responses}


async def healthy(gateway: httpx.AsyncClient, instance: str) -> float | None:
    return await metric(gateway, "gateway_upstream_healthy", upstream="products", url=instance)


async def test_an_instance_that_is_not_ready_gets_no_requests_until_it_is(
    services: dict[str, str],
) -> None:
    switches = Switches()
    with (
        served(echo_app("products-1")) as first,
        served(switchable_app("products-2", switches)) as second,
    ):
        settings = gateway_settings(
            services,
            products_urls=[first, second],
            upstream_health_interval=0.1,
            upstream_unhealthy_after=2,
        )
        async with running_gateway(settings) as (upstreams, gateway):
            products = upstreams["products"]
            assert await served_by(gateway, 4) == {"products-1", "products-2"}
            assert await healthy(gateway, second) == 1.0

            switches.ready.clear()
            await eventually(lambda: products.ejected() == [second])
            assert await healthy(gateway, second) == 0.0
            assert await healthy(gateway, first) == 1.0
            assert await served_by(gateway, 6) == {"products-1"}

            switches.ready.set()
            await eventually(lambda: products.ejected() == [])
            assert await healthy(gateway, second) == 1.0
            assert await served_by(gateway, 4) == {"products-1", "products-2"}


async def test_a_restarted_instance_is_back_before_its_cool_down_ends(
    services: dict[str, str],
) -> None:
    port = free_port()
    second = f"http://127.0.0.1:{port}"
    with served(echo_app("products-1")) as first:
        settings = gateway_settings(
            services,
            products_urls=[first, second],
            upstream_eject_seconds=600,
            upstream_health_interval=0.1,
        )
        async with running_gateway(settings) as (upstreams, gateway):
            products = upstreams["products"]
            with served(echo_app("products-2"), port=port):
                await eventually(lambda: products.ejected() == [])  # up after the gateway
                assert await served_by(gateway, 4) == {"products-1", "products-2"}
            # Killed: refused connections eject it at once, the checks see it down.
            assert await served_by(gateway, 4) == {"products-1"}
            assert products.ejected() == [second]
            with served(echo_app("products-2"), port=port):
                await eventually(lambda: products.ejected() == [])
                assert await served_by(gateway, 4) == {"products-1", "products-2"}
