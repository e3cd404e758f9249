"""Active health checks: every instance's ``/health/ready``, asked on a fixed interval.

An instance that fails ``UPSTREAM_UNHEALTHY_AFTER`` checks in a row is ejected
until one passes (see :mod:`shop.kit.instances`). So an instance that hangs, or
stays up but is not ready, is taken out without clients paying for it, and a
restarted one is taken back as soon as it is ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import structlog

from shop.gateway.upstreams import Upstream
from shop.kit.http import create_http_client

log = structlog.get_logger("shop.gateway.health")

# A check slower than this fails: an instance that takes longer to say it is ready
# would make clients wait as long.
CHECK_TIMEOUT = 2.0


class HealthChecker:
    def __init__(self, upstreams: Sequence[Upstream], interval: float) -> None:
        self.upstreams = upstreams
        self.interval = interval
        self._seen_ready: set[str] = set()

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
