"""The products row's search columns (``max_price``, ``stocked``, ``option_pairs``,
``stocked_pairs``: migration e4f1a7c3d925) follow every write of variants and stock,
whoever makes it: reservations and their release, the API's use cases, and plain
SQL (the triggers), several products in one statement included. Each check compares
the row with what its active variants and their stock say, computed the long way."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shop.products.models import Inventory, Product, ProductVariant, VariantStatus
from shop.products.search.pg_variants import option_pair
from tests.products.reservation_support import API as RESERVATIONS
from tests.products.reservation_support import (
    SERVICE,
    Books,
    ReservationsEnv,
    reservations_env,
)
from tests.products.search_support import (
    Catalog,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)
from tests.products.variant_support import API, SIZE_COLOR, create, restock, variant
from tests.support import Databases

__all__ = ["search", "search_catalog", "search_tokens"]  # fixtures


@pytest.fixture
async def env(
    databases: Databases, redis_url: str, tmp_path: Path
) -> AsyncIterator[ReservationsEnv]:
    async with reservations_env(databases, redis_url, tmp_path) as running:
        yield running


async def _columns(
    books: Books | Catalog, product_id: uuid.UUID
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(stored, expected) search columns of a product."""
    async with books.sessionmaker() as session:
        row = (
            await session.execute(
                select(
                    Product.max_price, Product.stocked, Product.option_pairs, Product.stocked_pairs
                ).where(Product.id == product_id)
            )
        ).one()
        variants = (
            await session.execute(
                select(ProductVariant, Inventory)
                .outerjoin(Inventory, Inventory.variant_id == ProductVariant.id)
                .where(
                    ProductVariant.product_id == product_id,
                    ProductVariant.status == VariantStatus.ACTIVE,
                )
            )
        ).all()
    stored = {
        "max_price": row.max_price,
        "stocked": row.stocked,
        "option_pairs": list(row.option_pairs),
        "stocked_pairs": list(row.stocked_pairs),
    }

    def has_units(stock: Inventory | None) -> bool:
        return stock is not None and stock.on_hand - stock.reserved > 0

    def pairs(chosen: list[Any]) -> list[str]:
        return sorted(
            {option_pair(k, v) for variant, _ in chosen for k, v in variant.options.items()}
        )

    expected = {
        "max_price": max((v.price for v, _ in variants), default=None),
        "stocked": any(has_units(stock) for _, stock in variants),
        "option_pairs": pairs(variants),
        "stocked_pairs": pairs([(v, s) for v, s in variants if has_units(s)]),
    }
    return stored, expected


async def in_step(books: Books | Catalog, product_id: uuid.UUID) -> dict[str, Any]:
    stored, expected = await _columns(books, product_id)
    assert stored == expected
    return stored


async def test_reservations_empty_and_refill_the_row(env: ReservationsEnv) -> None:
    product, sizes = await env.books.product_with_variants({"S": 1, "M": 0}, price=1000)
    row = await in_step(env.books, product)
    assert row["stocked"] is True
    assert row["option_pairs"] == [option_pair("Size", "M"), option_pair("Size", "S")]
    assert row["stocked_pairs"] == [option_pair("Size", "S")]

    order_id = uuid.uuid4()
    held = await env.client.put(
        f"{RESERVATIONS}/{order_id}",
        json={"lines": [{"variant_id": str(sizes["S"]), "quantity": 1}]},
        headers=SERVICE,
    )
    assert held.status_code == 201, held.text
    row = await in_step(env.books, product)
    assert row["stocked"] is False
    assert row["stocked_pairs"] == []

    assert (await env.release(order_id)).status_code == 200
    row = await in_step(env.books, product)
    assert row["stocked"] is True
    assert row["stocked_pairs"] == [option_pair("Size", "S")]


async def test_sql_writes_of_variants_and_stock_keep_the_row(env: ReservationsEnv) -> None:
    """Whoever writes (a migration, a script): prices, archiving, a new variant, a
    deleted one, and one statement over the stock of two products."""
    product, sizes = await env.books.product_with_variants({"S": 2, "M": 0, "L": 3}, price=1000)
    other, other_sizes = await env.books.product_with_variants({"S": 0}, price=500)
    await in_step(env.books, product)

    await env.books.execute(
        "UPDATE product_variants SET price = 4000 WHERE id = :id", id=sizes["L"]
    )
    assert (await in_step(env.books, product))["max_price"] == 4000

    await env.books.execute(
        "UPDATE product_variants SET status = 'archived' WHERE id = :id", id=sizes["L"]
    )
    row = await in_step(env.books, product)
    assert row["max_price"] == 1000
    assert option_pair("Size", "L") not in row["option_pairs"]

    await env.books.execute(
        "UPDATE inventory SET on_hand = on_hand + 1 WHERE variant_id IN (:a, :b)",
        a=sizes["M"],
        b=other_sizes["S"],
    )
    assert option_pair("Size", "M") in (await in_step(env.books, product))["stocked_pairs"]
    assert (await in_step(env.books, other))["stocked"] is True

    xl = uuid.uuid4()
    await env.books.execute(
        "INSERT INTO product_variants (id, product_id, sku, title, options, price, status,"
        " position, version) VALUES (:id, :product, :sku, 'XL', '{\"Size\": \"XL\"}', 9000,"
        " 'active', 9, 1)",
        id=xl,
        product=product,
        sku=f"XL-{xl.hex[:8]}",
    )
    row = await in_step(env.books, product)
    assert row["max_price"] == 9000
    assert option_pair("Size", "XL") in row["option_pairs"]
    assert option_pair("Size", "XL") not in row["stocked_pairs"]  # no inventory row yet

    await env.books.execute(
        "INSERT INTO inventory (variant_id, product_id, on_hand, reserved)"
        " VALUES (:id, :product, 4, 0)",
        id=xl,
        product=product,
    )
    assert option_pair("Size", "XL") in (await in_step(env.books, product))["stocked_pairs"]

    await env.books.execute("DELETE FROM inventory WHERE variant_id = :id", id=xl)
    await env.books.execute("DELETE FROM product_variants WHERE id = :id", id=xl)
    row = await in_step(env.books, product)
    assert option_pair("Size", "XL") not in row["option_pairs"]
    assert row["max_price"] == 1000


async def test_the_api_writes_keep_the_row(search: SearchFixture) -> None:
    """Created with its variants (the row is written with its columns at once),
    then a variant added, repriced, restocked and archived through the API."""
    tee = await create(
        search,
        {
            "sku": "TEE",
            "name": "Tee",
            "options": SIZE_COLOR,
            "variants": [
                variant("TEE-M-BLUE", 1500, stock=0, Size="M", Color="Blue"),
                variant("TEE-S-RED", 1700, stock=3, Size="S", Color="Red"),
            ],
        },
    )
    product = uuid.UUID(tee["id"])
    catalog = search.catalog
    row = await in_step(catalog, product)
    assert row == {
        "max_price": 1700,
        "stocked": True,
        "option_pairs": sorted(
            option_pair(*pair)
            for pair in (("Color", "Blue"), ("Color", "Red"), ("Size", "M"), ("Size", "S"))
        ),
        "stocked_pairs": [option_pair("Color", "Red"), option_pair("Size", "S")],
    }

    added = await search.client.post(
        f"{API}/products/{tee['id']}/variants",
        json=variant("TEE-L-RED", 2500, stock=0, Size="L", Color="Red"),
        headers=search.admin,
    )
    assert added.status_code == 201, added.text
    large = added.json()["id"]
    assert (await in_step(catalog, product))["max_price"] == 2500

    await restock(search, tee["id"], large, 2)
    assert option_pair("Size", "L") in (await in_step(catalog, product))["stocked_pairs"]

    repriced = await search.client.patch(
        f"{API}/products/{tee['id']}/variants/{large}", json={"price": 900}, headers=search.admin
    )
    assert repriced.status_code == 200, repriced.text
    assert (await in_step(catalog, product))["max_price"] == 1700

    archived = await search.client.delete(
        f"{API}/products/{tee['id']}/variants/{large}", headers=search.admin
    )
    assert archived.status_code == 204, archived.text
    row = await in_step(catalog, product)
    assert option_pair("Size", "L") not in row["option_pairs"]

    gone = await search.client.delete(f"{API}/products/{tee['id']}", headers=search.admin)
    assert gone.status_code == 204, gone.text
    await in_step(catalog, product)  # archiving the product leaves its variants as they are
