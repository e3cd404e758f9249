"""Active health checks: every instance's ``/health/ready``, asked on a fixed interval.

An instance that fails ``UPSTREAM_UNHEALTHY_AFTER`` checks in a row is ejected
until one passes (see :mod:`shop.kit.instances`). So an instance that hangs, or
stays up but is not ready, is taken out without clients paying for it, and a
restarted one is taken back as soon as it is ready.

The gateway's own readiness is read from the same state
(:meth:`HealthChecker.readiness_checks`): a service is ready when the latest
check of one of its instances passed. A probe of the gateway costs no request
to any service (a fan-out per probe would multiply the load that probes cause
by the number of instances), and the gateway is not ready before the first
round of checks has told it anything. The gateway starts serving only after that
first round (:meth:`HealthChecker.first_round`), so a gateway that accepts a
connection already knows which instances are up: no 503 for a probe or a client
in its first seconds, and none from one instance of a scaled gateway while its
twin on the same port is ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import httpx
import structlog

from shop.gateway.upstreams import Upstream
from shop.kit.health import ReadinessCheck
from shop.kit.http import create_http_client

log = structlog.get_logger("shop.gateway.health")

# The dashboard is checked and routed like a service, but its being down must not
# take the gateway, and with it the public API, out of the load balancer.
NOT_GATING_READINESS = frozenset({"admin"})
# A check slower than this fails: an instance that takes longer to say it is ready
# would make clients wait as long.
CHECK_TIMEOUT = 2.0


class NotCheckedYetError(RuntimeError):
    """No health check of the service's instances has finished yet."""


class NoReadyInstanceError(RuntimeError):
    """The latest check of every instance of the service failed."""


class HealthChecker:
    def __init__(self, upstreams: Sequence[Upstream], interval: float) -> None:
        self.upstreams = upstreams
        self.interval = interval
        self._seen_ready: set[str] = set()
        # Whether the latest check of each instance (by URL) passed; absent: not checked yet.
        self._latest: dict[str, bool] = {}
        self._first_round_done = asyncio.Event()

    async def first_round(self) -> None:
        """Returns once the first round of checks has finished, passed or not."""
        await self._first_round_done.wait()

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """``upstream:<name>`` per service, read from the checks' state (no I/O)."""

        def ready(upstream: Upstream) -> ReadinessCheck:
            async def check() -> None:
                outcomes = [self._latest[url] for url in upstream.urls if url in self._latest]
                if not outcomes:
                    raise NotCheckedYetError(f"{upstream.name} not checked yet")
                if not any(outcomes):
                    raise NoReadyInstanceError(f"no ready instance of {upstream.name}")

            return check

        return {
            f"upstream:{upstream.name}": ready(upstream)
            for upstream in self.upstreams
            if upstream.name not in NOT_GATING_READINESS
        }

    async def run_forever(self) -> None:
        # A client of its own: a pool saturated by traffic must not fail the checks.
        # A new connection every time, as a request from a restarted gateway would.
        async with create_http_client(
            timeout=httpx.Timeout(CHECK_TIMEOUT),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=0),
        ) as client:
            while True:
                try:
                    await self.check_all(client)
                except Exception:
                    log.exception("upstream health checks failed")
                self._first_round_done.set()
                await asyncio.sleep(self.interval)

    async def check_all(self, client: httpx.AsyncClient) -> None:
        await asyncio.gather(
            *(
                self._check(client, upstream, url)
                for upstream in self.upstreams
                for url in upstream.urls
            )
        )

    async def _check(self, client: httpx.AsyncClient, upstream: Upstream, url: str) -> None:
        try:
            status: int | str = (await client.get(url + "/health/ready")).status_code
        except httpx.HTTPError as exc:
            status = repr(exc)
        seen_ready = url in self._seen_ready
        self._latest[url] = status == 200
        if status == 200:
            self._seen_ready.add(url)
            if upstream.check_passed(url):
                event = "healthy again" if seen_ready else "ready"
                log.info(f"upstream instance {event}", upstream=upstream.name, url=url)
        elif upstream.check_failed(url):
            details = {"upstream": upstream.name, "url": url, "last": status}
            if seen_ready:
                log.warning("upstream instance unhealthy, ejected", **details)
            else:
                # A gateway often starts before the services it fronts: no alarm then.
                log.info("upstream instance not ready yet", **details)
