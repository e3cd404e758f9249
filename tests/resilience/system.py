"""`shop up` as real processes, with the faults the resilience tests inflict on it.

The system is the end-to-end one (tests/e2e/system.py) with short intervals, so
that the reconciler, the sweeper and the outbox workers settle within seconds,
and rate limits out of the way of a load generator on one address. The faults
are real: signals to the service processes (which the supervisor restarts
when they die), and the embedded Redis and PostgreSQL stopped and started
again on the same port and data directory. The supervisor does not restart
those two, so the test does it and stops what it started at teardown.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from shop.cli.embedded import POSTGRES_SYSTEM_USER, drop_privileges, redis_server_binary
from shop.cli.processes import port_is_free, spawn, stop
from shop.gateway.server import PUBLIC_KEEP_ALIVE_SECONDS
from tests.e2e.system import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, start_system
from tests.orders.stripe_support import SECRET_KEY, WEBHOOK_SECRET, LocalStripe
from tests.orders.support import ADDRESS
from tests.resilience import books
from tests.resilience.books import Books


def public_client(*, connections: int, timeout: float) -> httpx.AsyncClient:
    """A client of the gateway, as a well-behaved public client is: it lets an idle
    connection go before the gateway closes it (PUBLIC_KEEP_ALIVE_SECONDS), so a POST is
    never sent on a connection the gateway is closing at that moment (a ReadError,
    which httpx does not retry for a POST)."""
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=PUBLIC_KEEP_ALIVE_SECONDS / 2,
    )
    return httpx.AsyncClient(timeout=timeout, limits=limits)


# Short intervals: the books settle within seconds of a fault ending.
SETTINGS = {
    "RECONCILE_INTERVAL_SECONDS": "0.5",
    "PRODUCTS_DEADLINE_SECONDS": "3",
    "PLACEMENT_DEADLINE_SECONDS": "5",
    "PRODUCTS_BREAKER_RECOVERY_SECONDS": "2",
    "SWEEPER_INTERVAL_SECONDS": "1",
    "OUTBOX_POLL_SECONDS": "0.2",
    "UPSTREAM_EJECT_SECONDS": "1",
    # Each buyer places one manual order after another, none of them paid.
    "MAX_UNPAID_ORDERS": "1000000",
    # One address drives all the load.
    "RATE_LIMIT_DEFAULT": "1000000/minute",
    "RATE_LIMIT_AUTH": "1000000/minute",
    "LOGIN_FAILURE_LIMIT": "1000000/minute",
    "LOGIN_FAILURE_LIMIT_ACCOUNT": "1000000/minute",
    "LOGIN_FAILURE_LIMIT_IP": "1000000/minute",
    "EMAIL_RECIPIENT_LIMIT": "1000000/minute",
}
PASSWORD = "a resilient and unusual passphrase"


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@dataclass
class Shop:
    """The running system, its databases, and the processes the tests restarted."""

    running: RunningSystem
    runtime: dict[str, str]
    admin: dict[str, str] = field(default_factory=dict)
    category_id: str = ""
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api(self) -> str:
        return self.running.url() + "/api/v1"

    def database_url(self, service: str) -> str:
        return _plain(self.runtime[f"{service.upper()}_DATABASE_URL"])

    async def fetch(self, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.database_url(service))
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    # Accounts and products, through the gateway.

    async def login(self, client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
        response = await client.post(
            self.api + "/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"authorization": f"Bearer {response.json()['access_token']}"}

    async def customers(self, client: httpx.AsyncClient, count: int) -> list[dict[str, str]]:
        """Verified customers, signed in. The verification link is skipped (the e2e
        tests follow it): their addresses are marked verified in auth's database."""
        emails = [f"buyer-{uuid.uuid4().hex[:12]}@example.com" for _ in range(count)]

        async def register(email: str) -> None:
            body = {"email": email, "password": PASSWORD, "full_name": "Resilient Buyer"}
            response = await client.post(self.api + "/auth/register", json=body)
            assert response.status_code == 201, response.text

        await asyncio.gather(*[register(email) for email in emails])
        await self.fetch(
            "auth", "UPDATE users SET email_verified = true WHERE email = ANY($1)", emails
        )
        return list(await asyncio.gather(*[self.login(client, e, PASSWORD) for e in emails]))

    async def product(self, client: httpx.AsyncClient, stock: int, price: int = 1000) -> str:
        if not self.admin:
            self.admin = await self.login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        if not self.category_id:
            category = await client.post(
                self.api + "/categories", json={"name": "Resilience"}, headers=self.admin
            )
            assert category.status_code == 201, category.text
            self.category_id = category.json()["id"]
        sku = f"RES-{uuid.uuid4().hex[:10].upper()}"
        body = {
            "sku": sku,
            "name": f"Sturdy thing {sku}",
            "price": price,
            "category_id": self.category_id,
            "status": "active",
            "initial_stock": stock,
        }
        created = await client.post(self.api + "/products", json=body, headers=self.admin)
        assert created.status_code == 201, created.text
        product_id: str = created.json()["id"]
        return product_id

    def order_body(self, product_id: str, quantity: int = 1) -> dict[str, Any]:
        return {
            "items": [{"product_id": product_id, "quantity": quantity}],
            "shipping_address": dict(ADDRESS),
        }

    # Processes.

    def service(self, name: str) -> psutil.Process:
        for process in self.running.descendants():
            try:
                command = process.cmdline()
            except psutil.Error:
                continue
            if "serve" in command and name in command and process.status() != "zombie":
                return process
        raise AssertionError(f"no {name} process")

    def server(self, name: str) -> psutil.Process:
        """The running embedded server (``postgres`` or ``redis-server``): a child of
        `shop up`, or of this test once it restarted it."""
        children = psutil.Process(self.running.process.pid).children()
        for process in [*children, *self.started_processes()]:
            try:
                if process.name() == name and process.status() != psutil.STATUS_ZOMBIE:
                    return process
            except psutil.Error:
                continue
        raise AssertionError(f"no {name} process")

    def started_processes(self) -> list[psutil.Process]:
        alive = []
        for popen in self.started:
            if popen.poll() is None:
                with suppress(psutil.Error):
                    alive.append(psutil.Process(popen.pid))
        return alive

    def wait_ready(self, service: str = "gateway", timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                url = self.running.url(service) + "/health/ready"
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{service} was not ready again:\n{self.running.log()[-3000:]}")

    async def await_ready(self, service: str = "gateway", within: float = 300.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    url = self.running.url(service) + "/health/ready"
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{service} was not ready again:\n{self.running.log()[-3000:]}")

    async def stop_server(self, name: str, sig: signal.Signals) -> None:
        """Stops an embedded server with ``sig`` and waits until it has exited."""
        process = self.server(name)
        process.send_signal(sig)
        for _ in range(300):
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            await asyncio.sleep(0.1)
        else:
            process.kill()
        for popen in self.started:
            popen.poll()  # reap it, if it was ours

    def server_command(self, name: str) -> list[str]:
        """How to start the server again, on its port and data directory."""
        if name == "redis-server":  # Redis rewrites its command line; its config is a file
            return [redis_server_binary(), str(self.running.data_dir / "redis" / "redis.conf")]
        command: list[str] = self.server(name).cmdline()
        return command

    async def start_server(self, command: list[str], port: int) -> None:
        """Starts an embedded server again (from the event loop's thread: the child gets
        SIGTERM when this thread's process dies), and waits until it takes connections."""
        for _ in range(300):  # the old server's port is free once it has exited
            if port_is_free("127.0.0.1", port):
                break
            await asyncio.sleep(0.1)
        user = (
            POSTGRES_SYSTEM_USER if command[0].endswith("postgres") and os.geteuid() == 0 else None
        )
        self.started.append(spawn(command, stdout=subprocess.DEVNULL, **drop_privileges(user)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not port_is_free("127.0.0.1", port):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{command[0]} did not start again")

    async def restart_server(self, name: str, sig: signal.Signals, down_for: float) -> None:
        """Stops ``postgres`` or ``redis-server``, leaves it down for a while, and starts
        it again on the same port and data (the supervisor does not restart them)."""
        command = self.server_command(name)
        port = self.port_of("REDIS_URL" if name == "redis-server" else "ORDERS_DATABASE_URL")
        await self.stop_server(name, sig)
        await asyncio.sleep(down_for)
        await self.start_server(command, port)

    def port_of(self, variable: str) -> int:
        port = httpx.URL(self.runtime[variable]).port
        assert port is not None
        return port

    @contextmanager
    def frozen(self, process: psutil.Process) -> Iterator[None]:
        process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.running.process.poll() is None:
            self.running.stop()
        for process in self.started:  # after the services: as the supervisor does
            stop(process, signal.SIGINT, timeout=30)


def _runtime_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return dict(pairs)


def stripe_settings(stripe: LocalStripe) -> dict[str, str]:
    """Stripe beside manual (still the default: the tests that name no provider pay
    manually), at the tests' localstripe. The reconciler asks Stripe about a payment
    once it was not checked for a second, not a minute: a fault loses webhooks
    (localstripe sends each once), and the books must settle within seconds."""
    return {
        "PAYMENT_PROVIDERS": "manual,stripe",
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe.url,
        "PAYMENT_SETTLE_AFTER_SECONDS": "1",
    }


def start_shop(root: Path, stripe: LocalStripe) -> Shop:
    settings = {**SETTINGS, **stripe_settings(stripe)}
    running = start_system(root / "data", root / "shop-up.log", settings)
    return Shop(running, _runtime_env(root / "data" / "runtime.env"))


async def settle(shop: Shop, initial: dict[str, int], acknowledged: Collection[str] = ()) -> Books:
    """Waits until both services' books balance for these products (see books.py)."""
    return await books.settle(
        shop.database_url("products"), shop.database_url("orders"), initial, acknowledged
    )
