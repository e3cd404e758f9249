"""Stock changes invalidate precisely: a product's own reads at once, listings within
the staleness window, other products' reads not at all; and they tell the search
index through the outbox (``product.changed``, one per product per transaction)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio
from sqlalchemy import text

from shop.products.cache import GENERATION_KEY, STOCK_STAMP_PREFIX, CatalogCache
from shop.products.config import ProductsSettings
from shop.products.errors import InsufficientStockError
from shop.products.reservations import (
    commit,
    release,
    reserve,
    restock,
    sweep_expired,
)
from shop.products.search import indexes_stock
from shop.products.sweeper import ReservationSweeper
from tests.products.conftest import SERVICE_TOKEN, ProductsFixture
from tests.products.reservation_support import Books, books_for
from tests.support import Databases

INTERNAL = "/internal/v1/reservations"
SERVICE = {"X-Service-Token": SERVICE_TOKEN}
TTL = timedelta(minutes=15)


def _cache(products: ProductsFixture) -> CatalogCache:
    cache: CatalogCache = products.app.state.cache
    return cache


async def _reserve(products: ProductsFixture, order_id: uuid.UUID, *lines: Any) -> None:
    body = {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}
    response = await products.client.put(f"{INTERNAL}/{order_id}", json=body, headers=SERVICE)
    assert response.status_code == 201, response.text


async def _post(products: ProductsFixture, path: str) -> None:
    response = await products.client.post(f"{INTERNAL}/{path}", headers=SERVICE)
    assert response.status_code == 200, response.text


async def _generation(products: ProductsFixture) -> int:
    client = redis.asyncio.Redis.from_url(products.signer.redis_url)
    try:
        return int(await client.get(GENERATION_KEY) or 0)
    finally:
        await client.aclose()


# --- product reads ------------------------------------------------------------------


async def test_a_read_stays_cached_across_a_reservation_of_another_product(
    products: ProductsFixture,
) -> None:
    lamp = await products.product(sku="LAMP-1", name="Desk Lamp", initial_stock=10)
    mug = await products.product(sku="MUG-1", name="Coffee Mug", initial_stock=10)
    cache = _cache(products)
    url = f"/api/v1/products/{lamp['id']}"
    first = await products.client.get(url)
    assert first.status_code == 200
    generation = await _generation(products)

    order_id = uuid.uuid4()
    await _reserve(products, order_id, (mug["id"], 2))
    await _post(products, f"{order_id}/commit")

    hits, misses = cache.hits, cache.misses
    again = await products.client.get(url)
    assert (cache.hits, cache.misses) == (hits + 1, misses)  # served from Redis
    assert again.headers["etag"] == first.headers["etag"] == '"v1.10"'
    assert await _generation(products) == generation  # the catalog's was not bumped


async def test_a_reservation_of_the_product_invalidates_its_read_at_once(
    products: ProductsFixture,
) -> None:
    lamp = await products.product(sku="LAMP-2", name="Desk Lamp", initial_stock=10)
    by_id, by_slug = f"/api/v1/products/{lamp['id']}", f"/api/v1/products/{lamp['slug']}"
    cache = _cache(products)
    for url in (by_id, by_slug):
        assert (await products.client.get(url)).headers["etag"] == '"v1.10"'
        assert (await products.client.get(url)).status_code == 200  # cached now

    order_id = uuid.uuid4()
    await _reserve(products, order_id, (lamp["id"], 3))
    for url in (by_id, by_slug):
        misses = cache.misses
        response = await products.client.get(url, headers={"if-none-match": '"v1.10"'})
        assert response.status_code == 200  # not a 304 from the stale entry
        assert cache.misses == misses + 1
        assert response.headers["etag"] == '"v1.7"'
        assert response.json()["available"] == 7

    # If-Match with the tag just read still names the current version.
    patched = await products.client.patch(
        by_id, json={"name": "Brass Lamp"}, headers={**products.admin, "if-match": '"v1.7"'}
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"v2.7"'

    await _post(products, f"{order_id}/release")
    response = await products.client.get(by_id)
    assert response.headers["etag"] == '"v2.10"'
    assert response.json()["available"] == 10


async def test_an_adjustment_invalidates_its_product_only(products: ProductsFixture) -> None:
    lamp = await products.product(sku="LAMP-3", name="Desk Lamp", initial_stock=1)
    mug = await products.product(sku="MUG-3", name="Coffee Mug", initial_stock=1)
    cache = _cache(products)
    for product in (lamp, mug):
        await products.client.get(f"/api/v1/products/{product['id']}")
    adjusted = await products.client.post(
        f"/api/v1/products/{lamp['id']}/inventory/adjustments",
        json={"delta": 4, "reason": "found a box"},
        headers=products.admin,
    )
    assert adjusted.status_code == 200, adjusted.text

    hits, misses = cache.hits, cache.misses
    assert (await products.client.get(f"/api/v1/products/{lamp['id']}")).json()["available"] == 5
    assert (await products.client.get(f"/api/v1/products/{mug['id']}")).json()["available"] == 1
    assert (cache.hits, cache.misses) == (hits + 1, misses + 1)


# --- listings -----------------------------------------------------------------------


async def _listing(products: ProductsFixture) -> dict[str, int]:
    response = await products.client.get("/api/v1/products", params={"sort": "name"})
    assert response.status_code == 200, response.text
    return {item["sku"]: item["available"] for item in response.json()["items"]}


async def test_listings_show_stock_changes_within_the_staleness_window(
    products: ProductsFixture,
) -> None:
    lamp = await products.product(sku="LAMP-4", name="Desk Lamp", initial_stock=10)
    cache = _cache(products)
    cache.listing_stock_staleness_ms = 300  # the test's window, shorter than the 2 s default
    assert await _listing(products) == {"LAMP-4": 10}

    # No stock change: the page is served however old it is.
    await asyncio.sleep(0.4)
    hits = cache.hits
    assert await _listing(products) == {"LAMP-4": 10}
    assert cache.hits == hits + 1

    # A stock change: a page loaded longer than the window ago is loaded again at once.
    await _reserve(products, uuid.uuid4(), (lamp["id"], 4))
    misses = cache.misses
    assert await _listing(products) == {"LAMP-4": 6}
    assert cache.misses == misses + 1
    assert await _listing(products) == {"LAMP-4": 6}
    assert cache.misses == misses + 1  # and cached again


async def test_a_cached_listing_within_its_window_is_served_under_stock_changes(
    products: ProductsFixture,
) -> None:
    lamp = await products.product(sku="LAMP-5", name="Desk Lamp", initial_stock=10)
    cache = _cache(products)
    cache.listing_stock_staleness_ms = 60_000  # a long window: nothing here can outlast it
    assert await _listing(products) == {"LAMP-5": 10}
    for _ in range(3):
        await _reserve(products, uuid.uuid4(), (lamp["id"], 1))
    hits, misses = cache.hits, cache.misses
    assert await _listing(products) == {"LAMP-5": 10}
    assert (cache.hits, cache.misses) == (hits + 1, misses)
    # The product's own read is exact all the while.
    assert (await products.client.get(f"/api/v1/products/{lamp['id']}")).json()["available"] == 7


async def test_a_catalog_write_refreshes_listings_at_once(products: ProductsFixture) -> None:
    lamp = await products.product(sku="LAMP-6", name="Desk Lamp", initial_stock=10)
    _cache(products).listing_stock_staleness_ms = 60_000
    await _reserve(products, uuid.uuid4(), (lamp["id"], 1))
    assert await _listing(products) == {"LAMP-6": 9}
    await products.product(sku="MUG-6", name="Coffee Mug", initial_stock=3)
    assert await _listing(products) == {"LAMP-6": 9, "MUG-6": 3}


# --- the outbox ---------------------------------------------------------------------


@pytest.fixture
async def books(databases: Databases, redis_url: str) -> AsyncIterator[Books]:
    async with books_for(databases, redis_url) as opened:
        yield opened


async def _announced(books: Books) -> list[str]:
    """The product ids of ``product.changed`` messages, in the order written; emptied."""
    async with books.engine.begin() as connection:
        rows = await connection.execute(
            text(
                "DELETE FROM outbox WHERE topic = 'product.changed' RETURNING payload->>'id' AS id"
            )
        )
        return sorted(row.id for row in rows)


async def test_every_stock_change_puts_product_changed_in_the_outbox(books: Books) -> None:
    lamp, mug = await books.product(10), await books.product(10)
    both = sorted([str(lamp), str(mug)])
    order_id = uuid.uuid4()
    async with books.sessionmaker() as session, session.begin():
        await reserve(session, order_id, [(lamp, 1), (mug, 2)], ttl=TTL, actor="test")
    assert await _announced(books) == both

    async with books.sessionmaker() as session, session.begin():
        await commit(session, order_id, "test")
    assert await _announced(books) == both

    async with books.sessionmaker() as session, session.begin():
        await restock(session, order_id, "test")
    assert await _announced(books) == both

    held = uuid.uuid4()
    async with books.sessionmaker() as session, session.begin():
        await reserve(session, held, [(mug, 1)], ttl=TTL, actor="test")
        await release(session, held, "test")  # one message per product per transaction
    assert await _announced(books) == [str(mug)]

    expiring = uuid.uuid4()
    async with books.sessionmaker() as session, session.begin():
        await reserve(session, expiring, [(lamp, 1)], ttl=TTL, actor="test")
    await _announced(books)
    await books.age(expiring)
    async with books.sessionmaker() as session, session.begin():
        assert await sweep_expired(session) == 1
    assert await _announced(books) == [str(lamp)]

    # What changes no stock announces nothing: a replay, a repeated release, a tombstone.
    kept = uuid.uuid4()
    async with books.sessionmaker() as session, session.begin():
        await reserve(session, kept, [(lamp, 1), (mug, 2)], ttl=TTL, actor="test")
    await _announced(books)
    async with books.sessionmaker() as session, session.begin():
        await reserve(session, kept, [(lamp, 1), (mug, 2)], ttl=TTL, actor="test")
        await release(session, held, "test")
        await release(session, uuid.uuid4(), "test")
    assert await _announced(books) == []

    # A refused reservation rolls back with its messages.
    with pytest.raises(InsufficientStockError):
        async with books.sessionmaker() as session, session.begin():
            await reserve(session, uuid.uuid4(), [(lamp, 1), (mug, 99)], ttl=TTL, actor="test")
    assert await _announced(books) == []


async def test_without_elasticsearch_reservations_write_no_messages(
    products: ProductsFixture,
) -> None:
    """The PostgreSQL backend's handler does nothing: reservations skip the message;
    catalog writes and adjustments (few) still send it."""
    settings: ProductsSettings = products.app.state.settings
    assert not indexes_stock(settings)
    assert indexes_stock(settings.model_copy(update={"search_backend": "elasticsearch"}))
    lamp = await products.product(sku="LAMP-7", name="Desk Lamp", initial_stock=10)
    engine = products.app.state.engine

    async def messages() -> int:
        async with engine.connect() as connection:
            return int(
                (
                    await connection.execute(
                        text("SELECT count(*) FROM outbox WHERE topic = 'product.changed'")
                    )
                ).scalar_one()
            )

    before = await messages()
    order_id = uuid.uuid4()
    await _reserve(products, order_id, (lamp["id"], 1))
    await _post(products, f"{order_id}/commit")
    assert await messages() == before
    adjusted = await products.client.post(
        f"/api/v1/products/{lamp['id']}/inventory/adjustments",
        json={"delta": 1, "reason": "recount"},
        headers=products.admin,
    )
    assert adjusted.status_code == 200, adjusted.text
    assert await messages() == before + 1


async def test_the_sweeper_invalidates_the_swept_products_after_its_commit(
    books: Books, redis_url: str
) -> None:
    lamp, mug = await books.product(10), await books.product(10)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        cache = CatalogCache(client, ttl_seconds=60)
        order_id = uuid.uuid4()
        async with books.sessionmaker() as session, session.begin():
            await reserve(session, order_id, [(lamp, 1)], ttl=TTL, actor="test")
        await books.age(order_id)
        await _announced(books)
        await client.set(f"{STOCK_STAMP_PREFIX}{lamp}", "before")
        await client.set(f"{STOCK_STAMP_PREFIX}{mug}", "before")
        sweeper = ReservationSweeper(books.sessionmaker, lambda: cache, interval=60)
        assert await sweeper.run_once() == 1
        assert await client.get(f"{STOCK_STAMP_PREFIX}{lamp}") != b"before"
        assert await client.get(f"{STOCK_STAMP_PREFIX}{mug}") == b"before"
        assert await _announced(books) == [str(lamp)]
    finally:
        await client.aclose()
