"""The products service dead, frozen or failing: fast 503s, and books that balance after."""

from __future__ import annotations

import asyncio
import os
import signal
import socketserver
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shop.cli.processes import free_port
from shop.orders.reconciler import Round
from tests.orders.conftest import EnvFactory
from tests.orders.support import SERVICE_TOKEN, Tokens
from tests.products.reservation_support import Books, problem
from tests.support import Databases, serving

# A placement gives up after products_deadline_seconds (5 s by default, set again below
# where it matters: the test settings allow more); a bound that holds on a loaded
# machine, and still far short of "never" (a frozen products).
WITHIN_SECONDS = 15.0


async def test_unreachable_products_is_503_at_once_and_the_reconciler_cancels(
    make_env: EnvFactory, dead_url: str
) -> None:
    async with make_env(dead_url, placement_deadline_seconds=0) as env:
        ada = await env.tokens.user()
        started = time.monotonic()
        response = await env.place(ada, (uuid.uuid4(), 1))
        assert time.monotonic() - started < WITHIN_SECONDS

        problem(response, 503, "catalog-unavailable")
        assert response.headers["retry-after"] == "5"
        [row] = await env.db.fetch("SELECT * FROM orders")
        assert (row["status"], row["placed"]) == ("pending", False)
        assert (await env.client.get("/api/v1/orders", headers=ada.headers)).json()["items"] == []

        done = await env.reconcile()

        assert (done.cancelled, done.given_back) == (1, 0)  # products is still unreachable
        row = await env.order_row(row["id"])
        assert (row["status"], row["placed"], row["stock_state"]) == ("cancelled", False, "none")
        note = await env.db.fetchval("SELECT note FROM order_events ORDER BY id DESC LIMIT 1")
        assert note == "placement did not complete"
        assert await env.books.reservation_count() == 0


class _HangingUp(socketserver.BaseRequestHandler):
    """A products service that fails every call: it hangs up at once, and counts them."""

    def handle(self) -> None:
        self.server.calls += 1  # type: ignore[attr-defined]


@pytest.fixture
def failing_url() -> Iterator[tuple[str, socketserver.TCPServer]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _HangingUp)
    server.daemon_threads = True
    server.calls = 0  # type: ignore[attr-defined]
    with serving(server) as url:
        yield url, server


async def test_the_breaker_fails_fast_after_repeated_failures(
    make_env: EnvFactory, failing_url: tuple[str, socketserver.TCPServer]
) -> None:
    url, products = failing_url
    async with make_env(url, products_breaker_recovery_seconds=1) as env:
        breaker = env.app.state.orders.products
        ada = await env.tokens.user()
        # Three attempts, then two more: five failures in a row open the breaker.
        for _ in range(2):
            problem(await env.place(ada, (uuid.uuid4(), 1)), 503, "catalog-unavailable")
        assert breaker.breaker_open
        calls = products.calls  # type: ignore[attr-defined]
        assert calls == 5

        # Fast: products is not even called (so no deadline, no timeout is waited for).
        problem(await env.place(ada, (uuid.uuid4(), 1)), 503, "catalog-unavailable")
        assert products.calls == calls  # type: ignore[attr-defined]
        assert await env.order_count() == 2  # failing fast leaves no pending order

        # Half open once the recovery time is over: the next call is tried, fails, and
        # re-opens it.
        deadline = time.monotonic() + 30
        while breaker.breaker_open:
            assert time.monotonic() < deadline, "the breaker never half-opened"
            await asyncio.sleep(0.1)
        problem(await env.place(ada, (uuid.uuid4(), 1)), 503, "catalog-unavailable")
        assert products.calls == calls + 1  # type: ignore[attr-defined]
        assert breaker.breaker_open
        assert await env.order_count() == 3


@pytest.fixture
def products_process(
    databases: Databases, tokens: Tokens, tmp_path: Path, books: Books
) -> Iterator[tuple[str, int]]:
    """The products service as a process of its own (so that it can be frozen)."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.endswith("_URL")}
    env |= {
        "PRODUCTS_DATABASE_URL": databases.urls["products"],
        "REDIS_URL": tokens.redis_url,
        "JWKS_URL": tokens.jwks_url,
        "SERVICE_TOKEN": SERVICE_TOKEN,
        "PRODUCTS_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "SHOP_DATA_DIR": str(tmp_path / "products-process"),
        "SWEEPER_INTERVAL_SECONDS": "3600",
        "LOG_FORMAT": "json",
    }
    log = (tmp_path / "products.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "shop", "serve", "products"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield url, process.pid
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _wait_ready(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 300.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError("the products process exited")
        try:
            if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the products process was not ready in time")


async def test_a_frozen_products_service_is_503_within_seconds_and_books_balance_after(
    make_env: EnvFactory, products_process: tuple[str, int], books: Books
) -> None:
    url, pid = products_process
    product = await books.product(5)
    async with make_env(
        url,
        placement_deadline_seconds=1,
        products_breaker_failures=20,
        products_read_timeout=3,
        products_deadline_seconds=5,
    ) as env:
        ada, bob = await env.tokens.user(), await env.tokens.user()
        kept = await env.placed(ada, (product, 1))
        cancelled = await env.placed(ada, (product, 1))
        assert await books.levels(product) == (3, 0)

        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            frozen = await env.place(bob, (product, 2))
            assert time.monotonic() - started < WITHIN_SECONDS
            problem(frozen, 503, "catalog-unavailable")
            # Cancelling still works: the stock goes back once products answers again.
            assert (await env.cancel(ada, cancelled["id"])).status_code == 200
        finally:
            os.kill(pid, signal.SIGCONT)
        await asyncio.to_thread(_wait_ready, url)
        # The pending order is overdue (the placement gave up long ago). The calls products
        # took in while frozen may be served before the reconciler's or after (then they
        # meet a tombstone): the books below are the same either way. Rounds run until
        # both orders' stock is given back, as a resumed products on a loaded machine may
        # time a round's call out.
        rounds = Round()
        deadline = time.monotonic() + 60
        while rounds.given_back < 2:
            assert time.monotonic() < deadline, rounds
            done = await env.reconcile()
            rounds.cancelled += done.cancelled
            rounds.given_back += done.given_back

        assert (rounds.cancelled, rounds.given_back) == (1, 2)
        assert await env.books.held_and_committed(product) == (0, 1)  # held by nobody
        assert await books.levels(product) == (4, 0)
        statuses = {r["id"]: r["status"] for r in await env.db.fetch("SELECT * FROM orders")}
        assert sorted(statuses.values()) == ["cancelled", "cancelled", "confirmed"]
        assert statuses[uuid.UUID(kept["id"])] == "confirmed"
        await env.assert_books_agree(product)
        # A reservation for the abandoned order arriving now is refused.
        [abandoned] = [
            k for k, v in statuses.items() if str(k) not in (kept["id"], cancelled["id"])
        ]
        late = await env.app.state.orders.products.http.put(
            env.app.state.orders.products.instances.urls[0]
            + f"/internal/v1/reservations/{abandoned}",
            json={"lines": [{"product_id": str(product), "quantity": 2}]},
            headers={"X-Service-Token": SERVICE_TOKEN},
        )
        problem(late, 409, "reservation-released")
