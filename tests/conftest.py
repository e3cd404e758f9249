"""Real PostgreSQL and Redis for the whole suite.

The servers are the ones named by ``TEST_DATABASE_URL`` (a superuser URL of a
PostgreSQL server; the tests create their own databases there) and
``TEST_REDIS_URL``, or else embedded servers that the first pytest process
starts and stops. Each xdist worker gets databases and a Redis database
number of its own, so workers never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis

from shop.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from shop.cli.services import DATABASE_SERVICES
from shop.kit import migrations
from tests.products.search_node import launch_for_run
from tests.support import Databases, with_database

_servers = ExitStack()


def _resilience_asked_for(config: pytest.Config) -> bool:
    if os.environ.get("SHOP_RESILIENCE", "") not in ("", "0"):
        return True
    expression = str(config.getoption("markexpr", "") or "")
    return "resilience" in expression and "not resilience" not in expression


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``resilience`` (the fault matrix, the API fuzzing, whole systems
    scaled or stopped and started again) are slow: plain ``pytest`` and ``make test``
    skip them; ``pytest -m resilience`` or ``SHOP_RESILIENCE=1`` (``make
    test-resilience``) runs them."""
    if _resilience_asked_for(config):
        return
    skip = pytest.mark.skip(reason="slow resilience test: run make test-resilience")
    for item in items:
        if item.get_closest_marker("resilience") is not None:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller has started the servers
    if not os.environ.get("TEST_DATABASE_URL"):
        data_dir = Path(tempfile.mkdtemp(prefix="shop-test-pg-"))
        _servers.callback(shutil.rmtree, data_dir, ignore_errors=True)
        postgres = _servers.enter_context(EmbeddedPostgres(data_dir))
        os.environ["TEST_DATABASE_URL"] = postgres.url()
    if not os.environ.get("TEST_REDIS_URL"):
        data_dir = Path(tempfile.mkdtemp(prefix="shop-test-redis-"))
        _servers.callback(shutil.rmtree, data_dir, ignore_errors=True)
        os.environ["TEST_REDIS_URL"] = _servers.enter_context(EmbeddedRedis(data_dir)).url()
    # The search tests' OpenSearch node, started now and waited for when first needed.
    launch_for_run(config, _servers)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        _servers.close()


@pytest.fixture(scope="session")
def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _recreate_database(admin_url: str, name: str) -> None:
    async def recreate() -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(recreate())


@pytest.fixture(scope="session")
def databases(worker_id: str) -> Databases:
    """A migrated database per service, private to this worker."""
    admin_url = os.environ["TEST_DATABASE_URL"]
    urls: dict[str, str] = {}
    for spec in DATABASE_SERVICES:
        name = f"test_{spec.name}_{worker_id}"
        _recreate_database(admin_url, name)
        urls[spec.name] = with_database(admin_url, name)
        migrations.upgrade(spec.migrations, urls[spec.name])
    return Databases(admin_url=admin_url, urls=urls)


@pytest.fixture(scope="session")
def redis_url(worker_id: str) -> Iterator[str]:
    """A Redis database number private to this worker, emptied at the start."""
    number = int(worker_id.removeprefix("gw") or 0) + 1
    base = urlsplit(os.environ["TEST_REDIS_URL"])
    url = urlunsplit(base._replace(path=f"/{number}"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
async def clean_redis(redis_url: str) -> AsyncIterator[str]:
    yield redis_url
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
