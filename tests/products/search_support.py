"""What the search tests share: the products app on the worker's own database and
Redis with real tokens, and rows written straight into its tables.

Test modules import the fixtures they use (``from tests.products.search_support
import search``); the tables and Redis are emptied after each test.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shop.kit.config import DatabaseSettings
from shop.kit.db import create_engine, create_sessionmaker
from shop.products.app import create_app
from shop.products.cache import GENERATION_KEY
from shop.products.config import ProductsSettings
from shop.products.models import Category, Inventory, Product, ProductStatus, ProductVariant
from tests.products.conftest import TABLES, Signer, products_settings
from tests.support import Databases, app_client

LISTING = "/api/v1/products"
_skus = itertools.count(1)


# The products tests' token signer and settings, under the names these tests use.
Tokens = Signer


@pytest.fixture
def search_tokens(signer: Signer) -> Signer:
    return signer


def search_settings(
    databases: Databases, tokens: Signer, data_dir: Path, **overrides: Any
) -> ProductsSettings:
    return products_settings(
        databases, tokens, data_dir, **{"search_backend": "postgres", **overrides}
    )


@dataclass
class Catalog:
    """Rows written straight into the products database, as a catalog would hold them."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis_url: str
    categories: dict[str, Category] = field(default_factory=dict)
    writes: int = 0  # catalog writes so far: a search engine's index syncs when it changes

    async def category(self, name: str, slug: str, parent: str | None = None) -> Category:
        """A category (under the category whose slug is ``parent``)."""
        category_id = uuid.uuid4()
        above = self.categories[parent] if parent else None
        category = Category(
            id=category_id,
            name=name,
            slug=slug,
            parent_id=above.id if above else None,
            path=f"{above.path}/{category_id}" if above else str(category_id),
        )
        async with self.sessionmaker() as session, session.begin():
            session.add(category)
        self.categories[slug] = category
        await self.invalidate()
        return category

    async def products(self, *specs: dict[str, Any]) -> list[Product]:
        """Products (with stock) from dicts of their fields; defaults fill the rest.
        Extra keys: ``category`` (a slug), ``on_hand``, ``reserved``, and ``variants``
        (dicts of ``sku``, ``options``, ``price``, ``on_hand``; without it, one default
        variant with the product's SKU, price and stock). The product's price is then
        the lowest variant price, as the API keeps it."""
        made: list[Product] = []
        async with self.sessionmaker() as session, session.begin():
            for spec in specs:
                fields = dict(spec)
                n = next(_skus)
                category = fields.pop("category", None)
                fields.pop("on_hand", None)
                fields.pop("reserved", None)
                fields.pop("variants", None)
                fields.setdefault("sku", f"TST-{n:06d}")
                fields.setdefault("slug", f"product-{n}")
                fields.setdefault("name", f"Product {n}")
                fields.setdefault("description", "")
                fields.setdefault("price", 1000)
                fields.setdefault("currency", "USD")
                fields.setdefault("attributes", {})
                fields.setdefault("status", ProductStatus.ACTIVE)
                if category is not None:
                    fields["category_id"] = self.categories[category].id
                if spec.get("variants"):
                    fields["price"] = min(v["price"] for v in spec["variants"])
                product = Product(id=uuid.uuid4(), **fields)
                session.add(product)
                made.append(product)
            stocks: list[tuple[ProductVariant, int, int]] = []
            for product, spec in zip(made, specs, strict=True):
                for position, v in enumerate(spec.get("variants") or [spec]):
                    variant = ProductVariant(
                        id=uuid.uuid4(),
                        product_id=product.id,
                        sku=v.get("sku", product.sku),
                        options=v.get("options", {}),
                        price=v.get("price", product.price),
                        position=position,
                    )
                    session.add(variant)
                    stocks.append((variant, v.get("on_hand", 10), v.get("reserved", 0)))
            await session.flush()
            for variant, on_hand, reserved in stocks:
                session.add(
                    Inventory(
                        variant_id=variant.id,
                        product_id=variant.product_id,
                        on_hand=on_hand,
                        reserved=reserved,
                    )
                )
        await self.invalidate()
        return made

    async def product(self, **fields: Any) -> Product:
        [made] = await self.products(fields)
        return made

    async def execute(self, sql: str, **params: Any) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(sql), params)
        await self.invalidate()

    async def invalidate(self) -> None:
        """What every catalog write does after its commit: cached pages are stale."""
        self.writes += 1
        client = redis.asyncio.Redis.from_url(self.redis_url)
        try:
            await client.incr(GENERATION_KEY)
        finally:
            await client.aclose()


@dataclass
class SearchFixture:
    client: httpx.AsyncClient
    app: FastAPI
    catalog: Catalog
    tokens: Tokens
    admin: dict[str, str]
    customer: dict[str, str]
    # With a search engine: brings its index in step with the database (search_engines.py).
    before_read: Callable[[], Awaitable[None]] | None = None

    async def list(self, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
        """The listing with ``params``; asserts it is a 200."""
        if self.before_read is not None:
            await self.before_read()
        response = await self.client.get(LISTING, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def names(self, headers: dict[str, str] | None = None, **params: Any) -> list[str]:
        return [item["name"] for item in (await self.list(headers, **params))["items"]]

    async def walk(self, **params: Any) -> list[dict[str, Any]]:
        """Every page of a listing, following next_cursor."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.list(**params, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


def plain_settings(databases: Databases) -> DatabaseSettings:
    return DatabaseSettings(database_url=databases.urls["products"], _env_file=None)  # type: ignore[call-arg]


async def truncate(catalog: Catalog) -> None:
    async with catalog.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    client = redis.asyncio.Redis.from_url(catalog.redis_url)
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def search_catalog(databases: Databases, redis_url: str) -> AsyncIterator[Catalog]:
    """The products database, emptied after the test (with Redis)."""
    engine = create_engine(plain_settings(databases))
    catalog = Catalog(engine, create_sessionmaker(engine), redis_url)
    try:
        yield catalog
    finally:
        await truncate(catalog)
        await engine.dispose()


@pytest.fixture
async def search(
    request: pytest.FixtureRequest,
    databases: Databases,
    search_tokens: Tokens,
    search_catalog: Catalog,
    tmp_path: Path,
) -> AsyncIterator[SearchFixture]:
    """The products app, started, with admin and customer tokens; on PostgreSQL (with
    its in-process index: ``indexed``), or on the engine a test parametrises it with
    (search_engines.every_backend)."""
    backend = getattr(request, "param", "postgres")
    if backend not in ("postgres", "indexed"):
        from tests.products.search_engines import engine_search

        fixtures = (databases, search_tokens, search_catalog, tmp_path)
        async for engine_fixture in engine_search(request, backend, *fixtures):
            yield engine_fixture
        return
    indexed = backend == "indexed"  # PostgreSQL with the in-process index
    app = create_app(
        search_settings(databases, search_tokens, tmp_path, search_in_process_index=indexed)
    )
    loaded = -1

    async def reload_index() -> None:
        # The catalog's rows are written straight into the database, bumping no cache
        # generation: the index reads them again (the catch-up is test_search_mem_keeper's).
        nonlocal loaded
        if loaded != search_catalog.writes:
            await app.state.search.keeper.load()
            loaded = search_catalog.writes

    async with app_client(app) as client:
        yield SearchFixture(
            client,
            app,
            search_catalog,
            search_tokens,
            admin=await search_tokens.headers("customer", "admin"),
            customer=await search_tokens.headers("customer"),
            before_read=reload_index if indexed else None,
        )


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)
