"""The products service on the worker's own database and Redis, with real tokens.

Tokens are signed by a test key that a JWKS server on loopback publishes, and
their sessions are opened in Redis, just as the auth service does it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio
from fastapi import FastAPI

from shop.kit.config import to_async_database_url
from shop.kit.service_auth import generate_service_token
from shop.products.app import create_app
from shop.products.config import ProductsSettings
from tests.kit.identity_support import JwksServer, SigningKey, live_token
from tests.support import Databases, app_client

SERVICE_TOKEN = generate_service_token()  # the services refuse a weak one
TABLES = (
    "products, categories, inventory, stock_movements, reservations, reservation_lines,"
    " product_images, outbox, search_vocabulary"
)


def plain_url(url: str) -> str:
    return to_async_database_url(url).replace("postgresql+asyncpg://", "postgresql://")


@dataclass
class Signer:
    key: SigningKey
    jwks_url: str
    redis_url: str

    async def headers(self, *roles: str, verified: bool = True) -> dict[str, str]:
        """Bearer headers of a live session with ``roles``."""
        client = redis.asyncio.Redis.from_url(self.redis_url)
        try:
            token = await live_token(
                client, self.key, roles=roles or ("customer",), email_verified=verified
            )
        finally:
            await client.aclose()
        return {"authorization": f"Bearer {token}"}


@pytest.fixture
def signer(redis_url: str) -> Iterator[Signer]:
    key = SigningKey.generate()
    server = JwksServer()
    server.publish(key)
    with server.running() as url:
        yield Signer(key, url, redis_url)


def products_settings(
    databases: Databases, signer: Signer, data_dir: Path, **overrides: Any
) -> ProductsSettings:
    values: dict[str, Any] = {
        "PRODUCTS_DATABASE_URL": databases.urls["products"],
        "redis_url": signer.redis_url,
        "SHOP_DATA_DIR": str(data_dir),
        "jwks_url": signer.jwks_url,
        "service_token": SERVICE_TOKEN,
        "public_base_url": "http://shop.test",
        "log_format": "json",
        "_env_file": None,
    }
    values.update(overrides)
    return ProductsSettings(**values)


@dataclass
class ProductsFixture:
    client: httpx.AsyncClient
    app: FastAPI
    signer: Signer
    admin: dict[str, str]
    customer: dict[str, str]

    async def category(self, name: str, parent_id: str | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/categories", json={"name": name, "parent_id": parent_id}, headers=self.admin
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def product(self, **fields: Any) -> dict[str, Any]:
        body = {"sku": "SKU-1", "name": "Wireless Headphones", "price": 1999, **fields}
        body.setdefault("status", "active")
        response = await self.client.post("/api/v1/products", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


async def truncate(databases: Databases, redis_url: str) -> None:
    connection = await asyncpg.connect(plain_url(databases.urls["products"]))
    try:
        await connection.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def products(
    databases: Databases, signer: Signer, tmp_path: Path
) -> AsyncIterator[ProductsFixture]:
    app = create_app(products_settings(databases, signer, tmp_path))
    try:
        async with app_client(app) as client:
            yield ProductsFixture(
                client,
                app,
                signer,
                admin=await signer.headers("customer", "admin"),
                customer=await signer.headers("customer"),
            )
    finally:
        await truncate(databases, signer.redis_url)
