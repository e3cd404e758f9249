"""Two products instances under load: killing one fails no GET through the gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.system import RunningSystem, start_system

# Two whole systems scaled out and an instance killed under load: minutes on a loaded
# machine, so in `make test-resilience`, not `make test`.
pytestmark = [pytest.mark.e2e, pytest.mark.resilience, pytest.mark.xdist_group("e2e")]

WORKERS = 8
READS = ("/api/v1/products?limit=5", "/api/v1/categories")
# How long the load goes on after the kill, at most: through the restart if it is
# quick enough (it is not waited for beyond this: the test stays bounded).
AFTER_KILL = 10.0


def products_instances(system: RunningSystem) -> list[psutil.Process]:
    return [p for p in system.descendants() if "serve" in p.cmdline() and "products" in p.cmdline()]


def sample(metrics: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for found in family.samples:
            if found.name == name and labels.items() <= found.labels.items():
                return found.value
    return 0.0


async def eventually(condition: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


class Load:
    """GETs through the gateway from WORKERS clients at once, noting what goes wrong."""

    def __init__(self, gateway: httpx.AsyncClient) -> None:
        self.gateway = gateway
        self.answered = 0
        self.failures: list[str] = []
        self._done = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Load:
        self._readers = [asyncio.create_task(self._read(n)) for n in range(WORKERS)]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._done.set()
        await asyncio.gather(*self._readers)

    async def _read(self, number: int) -> None:
        while not self._done.is_set():
            path = READS[(number + self.answered) % len(READS)]
            try:
                response = await self.gateway.get(path)
            except httpx.HTTPError as exc:
                self.failures.append(f"GET {path}: {exc!r}")
                continue
            if response.status_code != 200:
                self.failures.append(f"GET {path}: {response.status_code} {response.text[:200]}")
            self.answered += 1


async def kill_under_load(system: RunningSystem, victim: psutil.Process, url: str) -> Load:
    async with (
        httpx.AsyncClient(
            base_url=system.url(), timeout=10, limits=httpx.Limits(max_connections=WORKERS)
        ) as gateway,
        Load(gateway) as load,
    ):

        async def flowing() -> bool:
            return load.answered >= 4 * WORKERS

        async def healthy() -> bool:
            metrics = (await gateway.get("/metrics")).text
            return sample(metrics, "gateway_upstream_healthy", upstream="products", url=url) == 1

        async def ejected() -> bool:
            return not await healthy()

        async def back() -> bool:
            return await healthy() and await served_some(url)

        assert await eventually(flowing, 20), "the requests did not flow"
        before = load.answered
        victim.kill()  # SIGKILL: the requests in flight to it are cut off
        killed_at = time.monotonic()
        await asyncio.to_thread(victim.wait, 10)
        assert await eventually(ejected, 30), "the gateway did not eject the killed instance"
        # The supervisor restarts it; the gateway takes it back once a check passes.
        await eventually(back, AFTER_KILL - (time.monotonic() - killed_at))
        assert load.answered > before + 4 * WORKERS, "hardly any request answered after the kill"
    return load


async def served_some(url: str) -> bool:
    """Whether the (restarted) instance at ``url`` is up and has answered reads."""
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            metrics = (await client.get(url + "/metrics")).text
    except httpx.HTTPError:
        return False
    # Not counting the gateway's health checks: those come whatever the traffic.
    return any(
        sample(metrics, "http_requests_total", method="GET", route=route, status="200") > 0
        for route in ("/api/v1/products", "/api/v1/categories")
    )


def test_killing_one_of_two_products_instances_under_load_fails_no_get(tmp_path: Path) -> None:
    system = start_system(
        tmp_path / "data",
        tmp_path / "shop-up.log",
        # One client address sends all the load: lift its rate limit.
        extra_env={"RATE_LIMIT_DEFAULT": "1000000/minute"},
        up_args=["--scale", "products=2"],
    )
    try:
        instances = products_instances(system)
        assert len(instances) == 2
        victim = instances[0]
        url = f"http://127.0.0.1:{victim.environ()['PRODUCTS_PORT']}"
        gateway = next(p for p in system.descendants() if "gateway" in p.cmdline())
        assert sorted(gateway.environ()["PRODUCTS_URLS"].split(",")) == sorted(
            f"http://127.0.0.1:{p.environ()['PRODUCTS_PORT']}" for p in instances
        )

        load = asyncio.run(kill_under_load(system, victim, url))

        assert load.failures == []
        assert "SERVICE CRASHED; RESTARTING" in system.log()
    finally:
        system.stop()


def listening_on(process: psutil.Process, port: int) -> bool:
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr.port == port
        for c in process.net_connections(kind="tcp")
    )


def test_two_gateways_share_the_public_port_and_one_survives_the_others_death(
    tmp_path: Path,
) -> None:
    system = start_system(
        tmp_path / "data",
        tmp_path / "shop-up.log",
        extra_env={"RATE_LIMIT_DEFAULT": "1000000/minute"},
        up_args=["--scale", "gateway=2"],
    )
    try:
        port = system.ports["gateway"]
        gateways = [
            p for p in system.descendants() if "serve" in p.cmdline() and "gateway" in p.cmdline()
        ]
        assert len(gateways) == 2
        assert all(listening_on(gateway, port) for gateway in gateways)

        def fresh_connections(count: int) -> list[int]:
            statuses = []
            for _ in range(count):  # a new connection each: the kernel picks a gateway
                with httpx.Client(base_url=system.url(), timeout=10) as client:
                    statuses.append(client.get("/api/v1/categories").status_code)
            return statuses

        assert fresh_connections(40) == [200] * 40
        gateways[0].kill()
        gateways[0].wait(10)
        assert fresh_connections(40) == [200] * 40  # the survivor takes every connection
        deadline = time.monotonic() + 30
        while "SERVICE CRASHED; RESTARTING" not in system.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "SERVICE CRASHED; RESTARTING" in system.log()
    finally:
        system.stop()
