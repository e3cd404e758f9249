"""The orders service in front of the real products service, on the worker's databases.

The products app runs behind a real uvicorn server on loopback (the orders
service calls it over HTTP with the service token); the orders app is called
in-process over ASGI. Tokens are signed by a test key a JWKS server publishes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shop.cli.processes import free_port
from shop.products.app import create_app as create_products_app
from tests.kit.identity_support import JwksServer, SigningKey
from tests.orders.stripe_shop import Shop, ShopFactory
from tests.orders.stripe_support import LocalStripe, run_localstripe
from tests.orders.support import (
    OrdersEnv,
    Tokens,
    behind_gateway,
    orders_env,
    orders_settings,
    products_settings,
    truncate_orders,
)
from tests.products.conftest import plain_url
from tests.products.reservation_support import Books, books_for
from tests.support import Databases, served

EnvFactory = Callable[..., AbstractAsyncContextManager[OrdersEnv]]


@pytest.fixture
def tokens(redis_url: str) -> Iterator[Tokens]:
    key = SigningKey.generate()
    server = JwksServer()
    server.publish(key)
    with server.running() as url:
        yield Tokens(key, url, redis_url)


@pytest.fixture
async def books(databases: Databases, redis_url: str) -> AsyncIterator[Books]:
    """The products database, emptied (with Redis) afterwards."""
    async with books_for(databases, redis_url) as opened:
        yield opened


@pytest.fixture
def products_url(
    databases: Databases, tokens: Tokens, tmp_path: Path, books: Books
) -> Iterator[str]:
    """The real products service behind uvicorn."""
    app = create_products_app(products_settings(databases, tokens, tmp_path / "products"))
    with served(app) as url:
        yield url


@pytest.fixture
def dead_url() -> str:
    """A loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def make_env(databases: Databases, tokens: Tokens, tmp_path: Path, books: Books) -> EnvFactory:
    """``async with make_env(products_url, **settings) as env``: an orders app of its own."""

    def make(products_url: str, **overrides: Any) -> AbstractAsyncContextManager[OrdersEnv]:
        settings = orders_settings(
            databases, tokens, tmp_path / "orders", products_url, **overrides
        )
        return orders_env(settings, books, tokens, databases)

    return make


@pytest.fixture
async def env(make_env: EnvFactory, products_url: str) -> AsyncIterator[OrdersEnv]:
    async with make_env(products_url) as running:
        yield running


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """localstripe, a Stripe stand-in, on loopback for the whole session (a test
    dependency only; `make run` never starts it)."""
    yield from run_localstripe()


@pytest.fixture
async def shop(
    databases: Databases,
    tokens: Tokens,
    tmp_path: Path,
    products_url: str,
    books: Books,
    localstripe: LocalStripe,
) -> AsyncIterator[ShopFactory]:
    """``async with shop(webhooks_dropped=False, **orders_settings) as running``: the
    orders service paying through localstripe, behind a real gateway (with the real
    products service), localstripe's webhooks sent to it (or nowhere, when dropped)."""

    @asynccontextmanager
    async def running(*, webhooks_dropped: bool = False, **overrides: Any) -> AsyncIterator[Shop]:
        settings = orders_settings(
            databases,
            tokens,
            tmp_path / "orders",
            products_url,
            **{**localstripe.settings(), **overrides},
        )
        connection = await asyncpg.connect(plain_url(databases.urls["orders"]))
        try:
            async with behind_gateway(settings, products_url, tokens, read_seconds=30) as client:
                api_url = str(client.base_url).rstrip("/")
                await localstripe.send_webhooks_to(api_url, dropped=webhooks_dropped)
                yield Shop(client, connection, localstripe)
        finally:
            await connection.close()

    try:
        yield running
    finally:
        await truncate_orders(databases)
