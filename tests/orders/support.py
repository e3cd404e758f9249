"""What the orders tests share: users with real tokens, the orders app in front of a real
products service, and the books of both services to check against each other."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio
from fastapi import FastAPI

from shop.gateway.app import create_app as create_gateway_app
from shop.gateway.config import GatewaySettings
from shop.kit.service_auth import generate_service_token
from shop.orders.app import create_app
from shop.orders.config import OrdersSettings
from shop.orders.reconciler import Round
from shop.products.config import ProductsSettings
from shop.products.models import ReservationStatus
from tests.kit.identity_support import SigningKey, live_token
from tests.products.conftest import plain_url
from tests.products.reservation_support import Books
from tests.support import Databases, app_client, served

SERVICE_TOKEN = generate_service_token()  # the services refuse a weak one
API = "/api/v1/orders"
ORDERS_TABLES = (
    "orders, order_lines, order_events, idempotency_keys, outbox,"
    " shipping_methods, tax_rates, promotions, promotion_uses, carts, cart_lines,"
    " payments, refunds, payment_events"
)
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


@dataclass(frozen=True)
class User:
    user_id: uuid.UUID
    email: str
    headers: dict[str, str]


@dataclass
class Tokens:
    """Access tokens as the auth service issues them, for users made up on the spot."""

    key: SigningKey
    jwks_url: str
    redis_url: str

    async def user(self, *roles: str, verified: bool = True, email: str | None = None) -> User:
        user_id = uuid.uuid4()
        address = email or f"customer-{user_id.hex[:10]}@example.com"
        client = redis.asyncio.Redis.from_url(self.redis_url)
        try:
            token = await live_token(
                client,
                self.key,
                roles=roles or ("customer",),
                email_verified=verified,
                sub=str(user_id),
                email=address,
            )
        finally:
            await client.aclose()
        return User(user_id, address, {"authorization": f"Bearer {token}"})

    async def admin(self) -> User:
        return await self.user("customer", "admin")


def products_settings(
    databases: Databases, tokens: Tokens, data_dir: Path, **overrides: Any
) -> ProductsSettings:
    values: dict[str, Any] = {
        "PRODUCTS_DATABASE_URL": databases.urls["products"],
        "redis_url": tokens.redis_url,
        "SHOP_DATA_DIR": str(data_dir),
        "jwks_url": tokens.jwks_url,
        "service_token": SERVICE_TOKEN,
        "sweeper_interval_seconds": 3600,
        "log_format": "json",
        "_env_file": None,
    }
    values.update(overrides)
    return ProductsSettings(**values)


def orders_settings(
    databases: Databases, tokens: Tokens, data_dir: Path, products_url: str, **overrides: Any
) -> OrdersSettings:
    values: dict[str, Any] = {
        "ORDERS_DATABASE_URL": databases.urls["orders"],
        "redis_url": tokens.redis_url,
        "SHOP_DATA_DIR": str(data_dir),
        "jwks_url": tokens.jwks_url,
        "products_url": products_url,
        "service_token": SERVICE_TOKEN,
        # The tests run the reconciler themselves (it runs once at start-up, too).
        "reconcile_interval_seconds": 3600,
        # Calls to products that hold on a loaded machine (1 s, 3 s and 5 s by default:
        # sixty placements at once in one event loop may take seconds to connect); the
        # tests of timeouts and deadlines set their own.
        "products_connect_timeout": 10,
        "products_read_timeout": 30,
        "products_deadline_seconds": 60,
        "outbox_poll_seconds": 0.05,
        # Customers place order after order, paying manually; the tests of the limit set
        # their own.
        "max_unpaid_orders": 1000,
        "public_base_url": "https://shop.example",
        "email_backend": "console",
        "SHOP_ENV": "development",  # the only environment the console backend runs in
        "log_format": "json",
        "_env_file": None,
    }
    values.update(overrides)
    return OrdersSettings(**values)


def items(*lines: tuple[uuid.UUID, int]) -> list[dict[str, Any]]:
    return [{"product_id": str(product), "quantity": quantity} for product, quantity in lines]


def order_body(*lines: tuple[uuid.UUID, int], **extra: Any) -> dict[str, Any]:
    return {"items": items(*lines), "shipping_address": dict(ADDRESS), **extra}


@dataclass
class OrdersEnv:
    client: httpx.AsyncClient
    app: FastAPI
    books: Books
    tokens: Tokens
    db: asyncpg.Connection
    settings: OrdersSettings
    extra: dict[str, Any] = field(default_factory=dict)

    async def place(
        self, user: User, *lines: tuple[uuid.UUID, int], key: str | None = None, **extra: Any
    ) -> httpx.Response:
        headers = dict(user.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(API, json=order_body(*lines, **extra), headers=headers)

    async def placed(self, user: User, *lines: tuple[uuid.UUID, int]) -> dict[str, Any]:
        response = await self.place(user, *lines)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get(self, user: User, order_id: str) -> httpx.Response:
        return await self.client.get(f"{API}/{order_id}", headers=user.headers)

    async def cancel(self, user: User, order_id: str, key: str | None = None) -> httpx.Response:
        headers = dict(user.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(f"{API}/{order_id}/cancel", headers=headers)

    async def set_status(self, user: User, order_id: str, **body: Any) -> httpx.Response:
        return await self.client.post(f"{API}/{order_id}/status", json=body, headers=user.headers)

    async def reconcile(self) -> Round:
        reconciler = self.app.state.reconciler
        done: Round = await reconciler.run_once()
        return done

    async def order_row(self, order_id: str | uuid.UUID) -> asyncpg.Record:
        row = await self.db.fetchrow("SELECT * FROM orders WHERE id = $1", uuid.UUID(str(order_id)))
        assert row is not None
        return row

    async def order_count(self) -> int:
        count: int = await self.db.fetchval("SELECT count(*) FROM orders")
        return count

    async def assert_books_agree(self, *product_ids: uuid.UUID) -> None:
        """Both services tell the same story: products' ledger adds up, only confirmed
        orders hold or took stock, and every other order holds nothing."""
        await self.books.assert_balanced(*product_ids)
        rows = await self.db.fetch("SELECT id, status, stock_state FROM orders")
        for row in rows:
            reservation = await self.books.reservation(row["id"])
            status = None if reservation is None else reservation.status
            if row["status"] in ("confirmed", "shipped", "delivered"):
                assert status in (ReservationStatus.HELD, ReservationStatus.COMMITTED), row
            else:
                assert status in (None, ReservationStatus.RELEASED), row


async def truncate_orders(databases: Databases) -> None:
    connection = await asyncpg.connect(plain_url(databases.urls["orders"]))
    try:
        await connection.execute(f"TRUNCATE {ORDERS_TABLES} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@asynccontextmanager
async def orders_env(
    settings: OrdersSettings, books: Books, tokens: Tokens, databases: Databases
) -> AsyncIterator[OrdersEnv]:
    """The orders app (its lifespan run) called over ASGI; its tables emptied afterwards."""
    app = create_app(settings)
    connection = await asyncpg.connect(plain_url(databases.urls["orders"]))
    try:
        async with app_client(app) as client:
            yield OrdersEnv(client, app, books, tokens, connection, settings)
    finally:
        await connection.close()
        await truncate_orders(databases)


@asynccontextmanager
async def behind_gateway(
    settings: OrdersSettings, products_url: str, tokens: Tokens, *, read_seconds: float
) -> AsyncIterator[httpx.AsyncClient]:
    """The orders service of ``settings`` and the real products at ``products_url``, each
    behind a real gateway: a client of the gateway's ``/api/v1``."""
    with served(create_app(settings)) as orders_url:
        gateway_settings = GatewaySettings(
            _env_file=None,
            orders_urls=[orders_url],
            products_urls=[products_url],
            redis_url=tokens.redis_url,
            jwks_url=tokens.jwks_url,
            log_format="json",
        )
        with served(create_gateway_app(gateway_settings)) as url:
            async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=read_seconds) as client:
                yield client
