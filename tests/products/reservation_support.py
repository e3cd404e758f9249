"""What the reservation tests share: the products app with a service token, products
and stock written straight to the worker's database, and the books to check."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shop.kit.config import to_async_database_url
from shop.kit.db import create_sessionmaker
from shop.kit.service_auth import generate_service_token
from shop.products.app import create_app
from shop.products.config import ProductsSettings
from shop.products.models import (
    Inventory,
    Product,
    ProductOption,
    ProductStatus,
    ProductVariant,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockMovement,
    StockReason,
)
from tests.support import Databases, app_client

SERVICE_TOKEN = generate_service_token()  # the services refuse a weak one
SERVICE = {"X-Service-Token": SERVICE_TOKEN}
API = "/internal/v1/reservations"
TABLES = (
    "products, categories, inventory, stock_movements, reservations, reservation_lines,"
    " product_images, outbox"
)

_numbers = itertools.count(1)


def reservations_settings(
    databases: Databases, redis_url: str, data_dir: Path, **overrides: Any
) -> ProductsSettings:
    values: dict[str, Any] = {
        "PRODUCTS_DATABASE_URL": databases.urls["products"],
        "redis_url": redis_url,
        "SHOP_DATA_DIR": str(data_dir),
        "service_token": SERVICE_TOKEN,
        "log_format": "json",
        "_env_file": None,  # never a developer's .env
    }
    values.update(overrides)
    return ProductsSettings(**values)


def create_engine(databases: Databases) -> AsyncEngine:
    return create_async_engine(to_async_database_url(databases.urls["products"]), pool_size=10)


@dataclass
class Books:
    """Stock written and read straight in the database, beside the service."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession] = field(init=False)

    def __post_init__(self) -> None:
        self.sessionmaker = create_sessionmaker(self.engine)

    async def product(
        self,
        on_hand: int,
        *,
        price: int = 1999,
        status: ProductStatus = ProductStatus.ACTIVE,
        name: str | None = None,
        currency: str = "USD",
    ) -> uuid.UUID:
        """A product with ``on_hand`` units, its initial stock in the ledger as the
        catalog writes it. Returns its id."""
        number = next(_numbers)
        product_id = uuid.uuid4()
        async with self.sessionmaker() as session, session.begin():
            session.add(
                Product(
                    id=product_id,
                    sku=f"RSV-{number:05d}-{product_id.hex[:6]}",
                    slug=f"reservable-{number}-{product_id.hex[:8]}",
                    name=name or f"Reservable thing {number}",
                    description="",
                    price=price,
                    currency=currency,
                    attributes={},
                    status=status,
                )
            )
            # Its default variant, as the catalog makes it for a product without options.
            variant = ProductVariant(
                product_id=product_id, sku=f"RSV-{number:05d}-{product_id.hex[:6]}", price=price
            )
            session.add(variant)
            await session.flush()
            session.add(
                Inventory(variant_id=variant.id, product_id=product_id, on_hand=on_hand, reserved=0)
            )
            if on_hand:
                session.add(
                    StockMovement(
                        product_id=product_id,
                        variant_id=variant.id,
                        on_hand_delta=on_hand,
                        reserved_delta=0,
                        reason=StockReason.ADJUSTMENT,
                        note="initial stock",
                        actor="test",
                    )
                )
        return product_id

    async def product_with_variants(
        self, stock: dict[str, int], *, price: int = 1000, option: str = "Size"
    ) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
        """An active product with one option and a variant per value of ``stock`` (its
        units on hand, in the ledger as the catalog writes them). Returns the product's
        id and its variants' ids by value."""
        number = next(_numbers)
        product_id = uuid.uuid4()
        sku = f"VAR-{number:05d}-{product_id.hex[:6]}"
        variants = {value: uuid.uuid4() for value in stock}
        async with self.sessionmaker() as session, session.begin():
            session.add(
                Product(
                    id=product_id,
                    sku=sku,
                    slug=f"variable-{number}-{product_id.hex[:8]}",
                    name=f"Variable thing {number}",
                    description="",
                    price=price,
                    currency="USD",
                    attributes={},
                    status=ProductStatus.ACTIVE,
                )
            )
            await session.flush()
            session.add(
                ProductOption(product_id=product_id, position=0, name=option, values=list(stock))
            )
            for position, value in enumerate(stock):
                session.add(
                    ProductVariant(
                        id=variants[value],
                        product_id=product_id,
                        sku=f"{sku}-{value}",
                        title=value,
                        options={option: value},
                        price=price,
                        position=position,
                    )
                )
            await session.flush()
            for value, on_hand in stock.items():
                variant_id = variants[value]
                session.add(
                    Inventory(
                        variant_id=variant_id, product_id=product_id, on_hand=on_hand, reserved=0
                    )
                )
                session.add(
                    StockMovement(
                        product_id=product_id,
                        variant_id=variant_id,
                        on_hand_delta=on_hand,
                        reserved_delta=0,
                        reason=StockReason.ADJUSTMENT,
                        note="initial stock",
                        actor="test",
                    )
                )
        return product_id, variants

    async def variant_levels(self, variant_id: uuid.UUID) -> tuple[int, int]:
        """``(on_hand, reserved)`` of a variant."""
        async with self.sessionmaker() as session:
            row = await session.get(Inventory, variant_id)
            assert row is not None
            return row.on_hand, row.reserved

    async def assert_variant_balanced(self, *variant_ids: uuid.UUID) -> None:
        """Per variant: the ledger's deltas add up to its levels, ``reserved`` is what
        held reservations hold of it, and nothing is oversold."""
        for variant_id in variant_ids:
            on_hand, reserved = await self.variant_levels(variant_id)
            async with self.sessionmaker() as session:
                moved = (
                    await session.execute(
                        select(
                            func.coalesce(func.sum(StockMovement.on_hand_delta), 0),
                            func.coalesce(func.sum(StockMovement.reserved_delta), 0),
                        ).where(StockMovement.variant_id == variant_id)
                    )
                ).one()
                held = await session.scalar(
                    select(func.coalesce(func.sum(ReservationLine.quantity), 0))
                    .join(Reservation, Reservation.order_id == ReservationLine.order_id)
                    .where(
                        ReservationLine.variant_id == variant_id,
                        Reservation.status == ReservationStatus.HELD,
                    )
                )
            assert (int(moved[0]), int(moved[1])) == (on_hand, reserved), variant_id
            assert reserved == int(held or 0), variant_id
            assert 0 <= reserved <= on_hand, variant_id

    async def catalog_entry(self, product_id: uuid.UUID) -> Product:
        async with self.sessionmaker() as session:
            product = await session.get(Product, product_id)
            assert product is not None
            return product

    async def variant(self, product_id: uuid.UUID) -> str:
        """The id of the product's (default) variant, as the API writes it."""
        async with self.sessionmaker() as session:
            variant_id = await session.scalar(
                select(ProductVariant.id).where(ProductVariant.product_id == product_id)
            )
            return str(variant_id)

    async def levels(self, product_id: uuid.UUID) -> tuple[int, int]:
        """``(on_hand, reserved)`` of a product, summed over its variants."""
        async with self.sessionmaker() as session:
            on_hand, reserved = (
                await session.execute(
                    select(func.sum(Inventory.on_hand), func.sum(Inventory.reserved)).where(
                        Inventory.product_id == product_id
                    )
                )
            ).one()
            assert on_hand is not None, f"product {product_id} has no inventory"
            return int(on_hand), int(reserved)

    async def execute(self, sql: str, **params: Any) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(text(sql), params)

    async def ledger(
        self, product_id: uuid.UUID | None = None, order_id: uuid.UUID | None = None
    ) -> list[StockMovement]:
        query = select(StockMovement).order_by(StockMovement.id)
        if product_id is not None:
            query = query.where(StockMovement.product_id == product_id)
        if order_id is not None:
            query = query.where(StockMovement.order_id == order_id)
        async with self.sessionmaker() as session:
            return list(await session.scalars(query))

    async def reservation(self, order_id: uuid.UUID) -> Reservation | None:
        async with self.sessionmaker() as session:
            return await session.get(Reservation, order_id)

    async def reservation_count(self) -> int:
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(Reservation)) or 0)

    async def held_and_committed(self, product_id: uuid.UUID) -> tuple[int, int]:
        """Units of a product in held and in committed reservations."""
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Reservation.status, func.coalesce(func.sum(ReservationLine.quantity), 0))
                .join(ReservationLine, ReservationLine.order_id == Reservation.order_id)
                .where(ReservationLine.product_id == product_id)
                .group_by(Reservation.status)
            )
            totals = {status: int(total) for status, total in rows}
        return (
            totals.get(ReservationStatus.HELD, 0),
            totals.get(ReservationStatus.COMMITTED, 0),
        )

    async def assert_balanced(self, *product_ids: uuid.UUID) -> None:
        """The books agree: for each product the ledger's deltas add up to its levels,
        ``reserved`` is what held reservations hold, and nothing is oversold."""
        for product_id in product_ids:
            on_hand, reserved = await self.levels(product_id)
            movements = await self.ledger(product_id)
            assert sum(m.on_hand_delta for m in movements) == on_hand, product_id
            assert sum(m.reserved_delta for m in movements) == reserved, product_id
            held, _ = await self.held_and_committed(product_id)
            assert reserved == held, product_id
            assert 0 <= reserved <= on_hand, product_id

    async def age(self, order_id: uuid.UUID) -> None:
        """Moves a reservation's expiry into the past."""
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE reservations SET expires_at = now() - interval '1 second'"
                    " WHERE order_id = :order_id"
                ),
                {"order_id": order_id},
            )

    async def wait_until_blocking(self, session: AsyncSession, within: float = 30.0) -> None:
        """Waits until another transaction waits for a lock that ``session`` holds: the
        event a test awaits instead of sleeping while the other one gets there."""
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        blocked = text(
            "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
        )
        deadline = asyncio.get_running_loop().time() + within
        while True:
            async with self.sessionmaker() as watching:
                if await watching.scalar(blocked, {"pid": pid}):
                    return
            assert asyncio.get_running_loop().time() < deadline, "nothing waited for the lock"
            await asyncio.sleep(0.02)

    async def truncate(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@dataclass
class ReservationsEnv:
    client: httpx.AsyncClient
    app: FastAPI
    books: Books
    settings: ProductsSettings

    async def reserve(
        self,
        order_id: uuid.UUID,
        *lines: tuple[uuid.UUID, int],
        headers: Any = SERVICE,
        commit: bool | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"lines": [{"product_id": str(p), "quantity": q} for p, q in lines]}
        if commit is not None:
            body["commit"] = commit
        return await self.client.put(f"{API}/{order_id}", json=body, headers=headers)

    async def commit(self, order_id: uuid.UUID) -> httpx.Response:
        return await self.client.post(f"{API}/{order_id}/commit", headers=SERVICE)

    async def release(self, order_id: uuid.UUID) -> httpx.Response:
        return await self.client.post(f"{API}/{order_id}/release", headers=SERVICE)

    async def get(self, order_id: uuid.UUID) -> httpx.Response:
        return await self.client.get(f"{API}/{order_id}", headers=SERVICE)


@asynccontextmanager
async def books_for(databases: Databases, redis_url: str) -> AsyncIterator[Books]:
    """Direct access to this worker's products database; tables and Redis are emptied
    afterwards."""
    engine = create_engine(databases)
    books = Books(engine)
    try:
        yield books
    finally:
        await books.truncate()
        await engine.dispose()
        client = redis.asyncio.Redis.from_url(redis_url)
        await client.flushdb()
        await client.aclose()


@asynccontextmanager
async def reservations_env(
    databases: Databases, redis_url: str, data_dir: Path, **overrides: Any
) -> AsyncIterator[ReservationsEnv]:
    """The real products app (its lifespan run) called over ASGI, and the books."""
    settings = reservations_settings(databases, redis_url, data_dir, **overrides)
    async with books_for(databases, redis_url) as books:
        app = create_app(settings)
        async with app_client(app) as client:
            yield ReservationsEnv(client, app, books, settings)


def problem(response: httpx.Response, status: int, type_slug: str | None = None) -> dict[str, Any]:
    """The RFC 9457 body of a problem answer with ``status`` (and problem type)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if type_slug is not None:
        assert body["type"].endswith("/" + type_slug), body
    return body
