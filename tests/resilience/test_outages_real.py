"""A real PostgreSQL and a real Redis stopped, and started again, under a few requests.

While the server is down the service answers 503 with ``Retry-After`` (never a 500);
once it is back on its port and data, requests succeed again without restarting the
service. The servers are private to each test (embedded, started for it: the suite's
shared ones stay up for the other tests); the service is the real products app behind
uvicorn, writing categories as an admin (a write always reaches PostgreSQL, and every
authenticated request checks its session in Redis). Each test takes seconds; the long
version, under load through `shop up`, is the fault matrix (test_faults.py).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from shop.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from shop.cli.services import DATABASE_SERVICES
from shop.kit import migrations
from shop.products.app import create_app
from tests.orders.support import Tokens, User, products_settings
from tests.products.reservation_support import Books, problem
from tests.support import Databases, served

WITHIN = 60.0  # seconds for anything to happen: generous, for a loaded machine
OUTAGE_503 = 3  # answers seen while the server is down, before it is started again


@pytest.fixture
def private_root() -> Iterator[Path]:
    """Outside pytest's temporary root (mode 0700: PostgreSQL, running as another user
    under root, could not reach it)."""
    root = Path(tempfile.mkdtemp(prefix="shop-outage-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def private_postgres(private_root: Path) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL of the test's own with the products database migrated; its URL."""
    postgres = EmbeddedPostgres(private_root)
    postgres.start()
    try:
        postgres.create_database("products")
        [spec] = [spec for spec in DATABASE_SERVICES if spec.name == "products"]
        migrations.upgrade(spec.migrations, postgres.url("products"))
        yield postgres, postgres.url("products")
    finally:
        postgres.stop()


@pytest.fixture
def private_redis(private_root: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(private_root) as server:
        yield server


@dataclass
class Traffic:
    """An admin creating categories one after another, noting every answer."""

    client: httpx.AsyncClient
    admin: User
    answers: list[httpx.Response] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def create(self) -> httpx.Response:
        body = {"name": f"Outage {uuid.uuid4().hex[:12]}"}
        answer = await self.client.post("/api/v1/categories", json=body, headers=self.admin.headers)
        assert answer.status_code != 500, answer.text
        return answer

    async def run(self) -> None:
        while not self.stopping.is_set():
            self.answers.append(await self.create())
            await asyncio.sleep(0.05)

    def count(self, status: int, since: int = 0) -> int:
        return sum(answer.status_code == status for answer in self.answers[since:])

    async def until(self, status: int, count: int, since: int = 0) -> None:
        deadline = time.monotonic() + WITHIN
        while self.count(status, since) < count:
            assert time.monotonic() < deadline, f"not {count} x {status}: {self.statuses()}"
            if self.task is not None and self.task.done():
                self.task.result()  # it failed: say why
            await asyncio.sleep(0.05)

    def statuses(self) -> Counter[int]:
        return Counter(answer.status_code for answer in self.answers)


async def _through_an_outage(
    url: str,
    admin: User,
    stop: Callable[[], None],
    start: Callable[[], None],
    problem_types: set[str],
) -> Traffic:
    """Traffic before, during and after the outage: ``stop`` (run in a thread while the
    requests go on) and ``start`` (run in this thread: the server is this process's
    child, and dies with the thread that started it). Every 503 has one of the
    ``problem_types`` and ``Retry-After``; returns the traffic."""
    async with httpx.AsyncClient(base_url=url, timeout=WITHIN) as client:
        traffic = Traffic(client, admin)
        assert (await traffic.create()).status_code == 201  # up: served
        running = traffic.task = asyncio.create_task(traffic.run())
        try:
            await traffic.until(201, 2)
            await asyncio.to_thread(stop)
            down = len(traffic.answers)
            await traffic.until(503, OUTAGE_503, since=down)
            start()
            restarted = len(traffic.answers)
            await traffic.until(201, 2, since=restarted)  # back, the service not restarted
        finally:
            traffic.stopping.set()
            with suppress(asyncio.CancelledError):
                await running
    assert set(traffic.statuses()) <= {201, 503}, traffic.statuses()
    for answer in traffic.answers:
        if answer.status_code == 503:
            assert problem(answer, 503)["type"].rsplit("/", 1)[-1] in problem_types
            assert answer.headers["retry-after"] == "5"
    return traffic


def _types(traffic: Traffic) -> Counter[str]:
    return Counter(
        answer.json()["type"].rsplit("/", 1)[-1]
        for answer in traffic.answers
        if answer.status_code == 503
    )


async def test_postgresql_stopped_and_started_again_is_503_then_served(
    private_postgres: tuple[EmbeddedPostgres, str], tokens: Tokens, tmp_path: Path
) -> None:
    postgres, database_url = private_postgres
    databases = Databases(admin_url=postgres.url(), urls={"products": database_url})
    app = create_app(products_settings(databases, tokens, tmp_path / "products"))
    with served(app) as url:
        admin = await tokens.admin()
        traffic = await _through_an_outage(
            url, admin, postgres.stop, postgres.start, {"backing-service-unavailable"}
        )
    print(f"\nPostgreSQL restarted: {dict(traffic.statuses())}")


async def test_redis_stopped_and_started_again_is_503_then_served(
    private_redis: EmbeddedRedis,
    databases: Databases,
    books: Books,
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    # The worker's products database (emptied afterwards by ``books``); a Redis of its own.
    private = Tokens(tokens.key, tokens.jwks_url, private_redis.url())
    app = create_app(products_settings(databases, private, tmp_path / "products"))
    with served(app) as url:
        admin = await private.admin()
        # Sessions cannot be checked while Redis is down: refused (503), not let through.
        # (A request that passed its check as Redis stopped meets the outage further on.)
        traffic = await _through_an_outage(
            url,
            admin,
            private_redis.stop,
            private_redis.start,
            {"upstream-unavailable", "backing-service-unavailable"},
        )
    print(f"\nRedis restarted: {dict(traffic.statuses())} {dict(_types(traffic))}")
    assert _types(traffic)["upstream-unavailable"] >= OUTAGE_503 - 1
    # The admin's session outlived the restart (Redis's append-only file): no new login.
    assert traffic.answers[-1].status_code == 201
