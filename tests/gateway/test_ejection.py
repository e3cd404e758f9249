"""An instance that stops answering is ejected for a cool-down, then given its turns back."""

from __future__ import annotations

import asyncio

import httpx
import structlog

from shop.cli.processes import free_port
from shop.gateway.app import create_app
from shop.gateway.upstreams import Upstream
from tests.gateway.services import echo_app, gateway_settings
from tests.support import served


async def served_by(gateway: httpx.AsyncClient, times: int) -> list[str]:
    responses = [await gateway.get("/api/v1/products") for _ in range(times)]
    assert [r.status_code for r in responses] == [200] * times
    return [r.json()["service"] for r in responses]


def test_ejected_instances_are_tried_last() -> None:
    upstream = Upstream("products", ["http://a", "http://b", "http://c"], eject_seconds=60)
    upstream.eject("http://a")
    assert [upstream.order()[0] for _ in range(4)] == ["http://b", "http://c"] * 2
    assert upstream.order()[-1] == "http://a"
    upstream.restore("http://a")
    assert upstream.ejected() == []


def test_ejected_instances_are_tried_soonest_back_first() -> None:
    upstream = Upstream("products", ["http://a", "http://b", "http://c"], eject_seconds=60)
    upstream.eject("http://c")
    upstream.eject("http://a")  # back after c
    assert [upstream.order() for _ in range(3)] == [["http://b", "http://c", "http://a"]] * 3


async def test_a_dead_instance_is_ejected_and_comes_back_after_its_cool_down(
    services: dict[str, str],
) -> None:
    port = free_port()
    second = f"http://127.0.0.1:{port}"
    with served(echo_app("products-1")) as first:
        # Passive ejection alone: no health checks to take the instance back sooner.
        settings = gateway_settings(
            services,
            products_urls=[first, second],
            upstream_eject_seconds=1.0,
            upstream_health_interval=0,
        )
        app = create_app(settings)
        upstream: Upstream = app.state.upstreams["products"]
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as gateway:
                with served(echo_app("products-2"), port=port):
                    assert set(await served_by(gateway, 4)) == {"products-1", "products-2"}

                # products-2 died: the first request that meets it moves on and ejects it,
                # the next ones do not try it at all.
                with structlog.testing.capture_logs() as logs:
                    assert await served_by(gateway, 6) == ["products-1"] * 6
                ejections = [e for e in logs if e["event"] == "upstream unreachable, ejected"]
                assert [e["url"] for e in ejections] == [second]
                assert upstream.ejected() == [second]

                await asyncio.sleep(1.1)
                assert upstream.ejected() == []
                with served(echo_app("products-2"), port=port):
                    assert set(await served_by(gateway, 4)) == {"products-1", "products-2"}
