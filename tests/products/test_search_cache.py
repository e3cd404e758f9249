"""Listing pages come from the catalog cache until a write; search topics leave the outbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

from tests.products.search_support import (
    LISTING,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)

__all__ = ["search", "search_catalog", "search_tokens"]  # fixtures


@contextmanager
def statements(search: SearchFixture) -> Iterator[list[str]]:
    """The SQL the app runs meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    engine = search.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _insert_behind_the_caches_back(search: SearchFixture, name: str) -> None:
    async with search.catalog.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO products (id, sku, slug, name, description, price, currency,"
                " attributes, status, version)"
                " VALUES (gen_random_uuid(), :name, :name, :name, '', 100, 'USD', '{}',"
                " 'active', 1)"
            ),
            {"name": name},
        )


async def test_a_repeated_listing_does_not_touch_the_database(search: SearchFixture) -> None:
    await search.catalog.products({"name": "Desk Lamp"}, {"name": "Floor Lamp"})
    first = await search.list(q="lamp", limit=1)
    with statements(search) as sql:
        again = await search.list(q="  lamp ", limit="1", sort="relevance")  # same query
    assert sql == []
    assert again == first

    with statements(search) as sql:
        second_page = await search.list(q="lamp", limit=1, cursor=first["next_cursor"])
    assert sql, "another page is another entry"
    assert second_page["items"] != first["items"]


async def test_the_cache_serves_until_a_write_invalidates_it(search: SearchFixture) -> None:
    await search.catalog.products({"name": "Old Lamp"})
    assert await search.names() == ["Old Lamp"]
    await _insert_behind_the_caches_back(search, "Sneaky Lamp")
    assert await search.names() == ["Old Lamp"]  # cached: no write said otherwise
    await search.catalog.invalidate()  # what a write does after its commit
    assert sorted(await search.names()) == ["Old Lamp", "Sneaky Lamp"]


async def test_writes_through_the_api_show_at_once(search: SearchFixture) -> None:
    assert await search.names(q="kettle") == []
    created = await search.client.post(
        "/api/v1/products",
        json={"sku": "KT-9", "name": "Copper Kettle", "price": 4500, "status": "active"},
        headers=search.admin,
    )
    assert created.status_code == 201, created.text
    assert await search.names(q="kettle") == ["Copper Kettle"]
    assert await search.names(q="coper ketle") == ["Copper Kettle"]

    product_id = created.json()["id"]
    changed = await search.client.patch(
        f"/api/v1/products/{product_id}", json={"price": 3900}, headers=search.admin
    )
    assert changed.status_code == 200, changed.text
    [item] = (await search.list(q="kettle"))["items"]
    assert item["price"] == 3900

    deleted = await search.client.delete(f"/api/v1/products/{product_id}", headers=search.admin)
    assert deleted.status_code == 204, deleted.text
    assert await search.names(q="kettle") == []
    assert await search.names(search.admin, q="kettle", status="archived") == ["Copper Kettle"]


async def test_admin_pages_are_cached_apart_from_public_ones(search: SearchFixture) -> None:
    await search.catalog.products(
        {"name": "Public Lamp"}, {"name": "Draft Lamp", "status": "draft"}
    )
    assert await search.names(search.admin, status="draft") == ["Draft Lamp"]
    assert await search.names() == ["Public Lamp"]
    response = await search.client.get(LISTING, params={"status": "draft"}, headers=search.customer)
    assert response.status_code == 403  # never served from the admin's cached page


async def test_search_topics_are_delivered_with_the_postgres_backend(search: SearchFixture) -> None:
    created = await search.client.post(
        "/api/v1/products",
        json={"sku": "OB-1", "name": "Outbox Lamp", "price": 100},
        headers=search.admin,
    )
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 15
    while True:
        async with search.catalog.engine.connect() as connection:
            pending = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM outbox"
                        " WHERE topic = 'product.changed' AND delivered_at IS NULL"
                    )
                )
            ).scalar_one()
            delivered = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM outbox"
                        " WHERE topic = 'product.changed' AND delivered_at IS NOT NULL"
                    )
                )
            ).scalar_one()
        if pending == 0 and delivered >= 1:
            break
        assert time.monotonic() < deadline, "product.changed was never delivered"
        await asyncio.sleep(0.1)


async def test_the_metrics_count_the_read_cache_hits_and_misses(search: SearchFixture) -> None:
    def counted(metrics: str, result: str) -> float:
        prefix = "products_read_cache_total{"
        [line] = [
            line
            for line in metrics.splitlines()
            if line.startswith(prefix) and f'result="{result}"' in line
        ]
        return float(line.rsplit(" ", 1)[1])

    await search.catalog.product(name="Kettle")
    before = (await search.client.get("/metrics")).text
    for _ in range(3):
        await search.list(q="kettle")
    after = (await search.client.get("/metrics")).text

    assert counted(after, "miss") - counted(before, "miss") == 1
    assert counted(after, "hit") - counted(before, "hit") == 2
