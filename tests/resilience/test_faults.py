"""Faults inflicted on the real system (`shop up`) while buyers place and cancel orders
through the gateway; after each, the books of both services balance.

Every buyer retries a placement with the same Idempotency-Key until it gets a final
answer (201, or 409 for want of stock), as a careful client would. The clients may
see 503s (and nothing else of the 5xx kind) while the fault lasts; after it,
every acknowledged order is there exactly once, no order is left pending, the
outbox is empty, the stock adds up, and a new order succeeds.

The products process killed runs in plain ``make test``; the rest of the matrix
is marked ``resilience`` (``make test-resilience``).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.resilience.system import Shop, public_client, settle

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("resilience")]

BUYERS = 6
STOCK = 10_000
RETRYABLE = {503, 504}  # what a client may see during a fault: try again later
# The problem types of those answers (docs/reliability.md, the fault matrix): a 503 says
# when to retry (Retry-After); a 504 is the gateway giving up on a slow service.
UNAVAILABLE = {"catalog-unavailable", "upstream-unavailable", "backing-service-unavailable"}
GIVE_UP_AFTER = 90.0  # seconds of retrying one request after the fault has ended


@dataclass
class Load:
    """Buyers placing orders one after another; an admin marks every third paid, and
    every fourth is cancelled (so every twelfth is refunded)."""

    shop: Shop
    client: httpx.AsyncClient
    product: str
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    seen: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)  # "503 catalog-unavailable"
    acknowledged: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    async def _until_final(
        self, method: str, url: str, headers: dict[str, str], **kwargs: object
    ) -> httpx.Response | None:
        """The first final answer; 503, 504, in-progress and dropped connections are
        retried with the same request (and key)."""
        stopped_at: float | None = None
        while True:
            try:
                answer = await self.client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                self.seen[type(exc).__name__] += 1
            else:
                self.seen[str(answer.status_code)] += 1
                in_progress = answer.status_code == 409 and answer.json()["type"].endswith(
                    "/idempotency-key-in-progress"
                )
                if answer.status_code not in RETRYABLE and not in_progress:
                    return answer
                if answer.status_code in RETRYABLE:
                    self._check_retryable(answer)
            if self.stopping.is_set():
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > GIVE_UP_AFTER:
                    self.unexpected.append(f"{method} {url}: no final answer")
                    return None
            await asyncio.sleep(0.25)

    def _check_retryable(self, answer: httpx.Response) -> None:
        assert answer.headers["content-type"] == "application/problem+json"
        slug = answer.json()["type"].rsplit("/", 1)[-1]
        self.problems[f"{answer.status_code} {slug}"] += 1
        if answer.status_code == 503:
            assert slug in UNAVAILABLE, answer.text
            assert int(answer.headers["retry-after"]) >= 1
        else:
            assert slug == "upstream-timeout", answer.text

    async def buyer(self, headers: dict[str, str]) -> None:
        body = self.shop.order_body(self.product)
        while not self.stopping.is_set():
            keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
            answer = await self._until_final("POST", self.shop.api + "/orders", keyed, json=body)
            if answer is None:
                continue
            if answer.status_code != 201:
                self.unexpected.append(f"place: {answer.status_code} {answer.text[:300]}")
                continue
            order_id = answer.json()["id"]
            self.acknowledged.append(order_id)
            count = len(self.acknowledged)
            if count % 3 == 0:  # the money arrived (so every twelfth is refunded below)
                url = f"{self.shop.api}/orders/{order_id}/payment/mark-paid"
                paid = await self._until_final("POST", url, self.shop.admin)
                if paid is not None and paid.status_code != 200:
                    self.unexpected.append(f"mark paid: {paid.status_code} {paid.text}")
            if count % 4 == 0:
                url = f"{self.shop.api}/orders/{order_id}/cancel"
                cancelled = await self._until_final("POST", url, headers)
                if cancelled is not None and cancelled.status_code != 200:
                    self.unexpected.append(f"cancel: {cancelled.status_code} {cancelled.text}")


async def _under_load(shop: Shop, fault: Callable[[], Awaitable[None]]) -> Load:
    """Runs the fault in the middle of the load, then checks the books and a new order."""
    async with public_client(connections=50, timeout=40) as client:
        product = await shop.product(client, STOCK)
        buyers = await shop.customers(client, BUYERS)
        load = Load(shop, client, product)
        running = [asyncio.create_task(load.buyer(headers)) for headers in buyers]
        try:
            for _ in range(300):  # orders flow before the fault
                if len(load.acknowledged) >= 2 * BUYERS:
                    break
                await asyncio.sleep(0.1)
            acknowledged_before = len(load.acknowledged)
            await fault()
            await shop.await_ready()
            # Orders flow again: every buyer's worth, after the fault (not a fixed while).
            acknowledged_after = len(load.acknowledged)
            deadline = time.monotonic() + GIVE_UP_AFTER
            while len(load.acknowledged) < acknowledged_after + BUYERS:
                assert time.monotonic() < deadline, f"orders did not flow again: {load.seen}"
                await asyncio.sleep(0.1)
        finally:
            load.stopping.set()
            await asyncio.gather(*running)

        assert acknowledged_before > 0, load.seen  # the fault hit a system under load
        assert not load.unexpected, load.unexpected
        assert set(load.seen) <= {"201", "200", "409", "503", "504"}, load.seen
        books = await settle(shop, {product: STOCK}, load.acknowledged)
        # Exactly once: every order placed was acknowledged once, and nothing else placed.
        assert len(set(load.acknowledged)) == len(load.acknowledged)
        assert books.placed == set(load.acknowledged)
        cancels = len(load.acknowledged) // 4
        assert books.sold == {product: len(load.acknowledged) - cancels}
        # Every twelfth order was paid, then cancelled: refunded in full, and only those.
        assert len(books.refunded) == len(load.acknowledged) // 12

        after = await client.post(
            shop.api + "/orders", json=shop.order_body(product), headers=buyers[0]
        )
        assert after.status_code == 201, after.text
    return load


def _report(name: str, load: Load, started: float) -> None:
    print(
        f"\n{name}: {dict(load.seen)} ({dict(load.problems)});"
        f" {len(load.acknowledged)} orders acknowledged;"
        f" {time.monotonic() - started:.1f} s"
    )


async def test_a_products_instance_killed_mid_order_is_restarted_and_books_balance(
    shop: Shop,
) -> None:
    started = time.monotonic()
    before = shop.service("products").pid

    async def kill_products() -> None:
        shop.service("products").kill()
        await shop.await_ready("products")

    load = await _under_load(shop, kill_products)
    assert shop.service("products").pid != before  # the supervisor restarted it
    assert "SERVICE CRASHED; RESTARTING" in shop.running.log()
    _report("products SIGKILL", load, started)


@pytest.mark.resilience
async def test_a_products_instance_frozen_mid_order_gives_503s_and_books_balance(
    shop: Shop,
) -> None:
    started = time.monotonic()

    async def freeze_products() -> None:
        with shop.frozen(shop.service("products")):
            await asyncio.sleep(6)

    load = await _under_load(shop, freeze_products)
    # placements gave up on the frozen catalog
    assert load.problems["503 catalog-unavailable"] > 0, load.problems
    _report("products SIGSTOP 6 s", load, started)


@pytest.mark.resilience
async def test_redis_stopped_and_restarted_under_load_and_books_balance(shop: Shop) -> None:
    started = time.monotonic()

    async def restart_redis() -> None:
        await shop.restart_server("redis-server", signal.SIGTERM, down_for=4)

    load = await _under_load(shop, restart_redis)
    assert load.seen["503"] > 0  # sessions cannot be checked: fail closed
    _report("Redis stopped 4 s", load, started)


@pytest.mark.resilience
async def test_postgresql_restarted_under_load_and_books_balance(shop: Shop) -> None:
    started = time.monotonic()

    async def restart_postgres() -> None:
        await shop.restart_server("postgres", signal.SIGINT, down_for=3)

    load = await _under_load(shop, restart_postgres)
    assert load.problems["503 backing-service-unavailable"] > 0, load.problems
    _report("PostgreSQL restarted (3 s down)", load, started)
