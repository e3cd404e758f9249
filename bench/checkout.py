"""The checkout scenario: each virtual customer creates a cart, adds two lines, sets the
shipping address and method, and checks out (six requests through the gateway), over
and over for the run's duration.

wrk can't chain requests on one connection (its Lua state is per thread, shared by
the thread's connections), so this scenario is driven by an asyncio loop of httpx
clients, one connection each; its row has the fields of a wrk run (bench.wrk), where
a "request" is a whole checkout: `rps` is checkouts per second, the latencies those
of a whole checkout, and the CPU per request of the report CPU per checkout.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import httpx

ADDRESS = {
    "name": "Bench Customer",
    "line1": "1 Load Street",
    "city": "Helsinki",
    "postal_code": "00100",
    "country": "FI",
}
STEPS_PER_CHECKOUT = 6


class _Failed(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _check(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        slug = ""
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            slug = str(response.json().get("type", "")).rsplit("/", 1)[-1]
        raise _Failed(f"{response.status_code} {slug}".strip())
    body: dict[str, Any] = response.json()
    return body


async def _checkout(
    client: httpx.AsyncClient, token: str, products: list[str], method_id: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    cart = _check(await client.post("/api/v1/carts", headers=headers), 201)
    path = f"/api/v1/carts/{cart['id']}"
    for product in random.sample(products, 2) if len(products) > 1 else products:
        line = {"product_id": product, "quantity": 1}
        _check(await client.post(f"{path}/items", json=line, headers=headers), 200)
    _check(await client.put(f"{path}/shipping-address", json=ADDRESS, headers=headers), 200)
    method = {"shipping_method_id": method_id}
    _check(await client.put(f"{path}/shipping-method", json=method, headers=headers), 200)
    _check(await client.post(f"{path}/checkout", headers=headers), 201)


async def _drive(
    base_url: str,
    tokens: list[str],
    products: list[str],
    method_id: str,
    connections: int,
    duration: float,
) -> dict[str, Any]:
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    socket_errors = 0
    started = time.monotonic()
    stop_at = started + duration

    async def customer(n: int) -> None:
        nonlocal socket_errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as client:
            while time.monotonic() < stop_at:
                begun = time.monotonic()
                try:
                    await _checkout(client, tokens[n % len(tokens)], products, method_id)
                    latencies.append(time.monotonic() - begun)
                except _Failed as failed:
                    failures[failed.name] += 1
                except httpx.HTTPError:
                    socket_errors += 1
                n += connections

    await asyncio.gather(*(customer(n) for n in range(connections)))
    seconds = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]

    def percentile(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    done = len(latencies)
    return {
        "connections": connections,
        "threads": connections,
        "requests": done,
        "seconds": round(seconds, 3),
        "rps": round(done / seconds, 1) if seconds else 0.0,
        "p50_ms": percentile(0.5),
        "p90_ms": percentile(0.9),
        "p99_ms": percentile(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
        "non_2xx_3xx": sum(failures.values()),
        "failures": dict(failures),
        "socket_errors": socket_errors,
        "socket_error_detail": {},
        "http_requests_per_checkout": STEPS_PER_CHECKOUT,
    }


def run_checkouts(
    base_url: str,
    tokens: list[str],
    products: list[str],
    method_id: str,
    connections: int,
    duration: float,
) -> dict[str, Any]:
    """One run of the checkout scenario at ``connections`` concurrent customers."""
    return asyncio.run(_drive(base_url, tokens, products, method_id, connections, duration))


def shipping_method(api: str, admin: dict[str, str]) -> str:
    """A shipping method to everywhere, for the scenario's carts."""
    created = httpx.post(
        api + "/shipping-methods",
        json={"name": "Bench post", "countries": ["*"], "price": 499, "min_days": 1, "max_days": 3},
        headers=admin,
        timeout=30,
    )
    created.raise_for_status()
    return str(created.json()["id"])
