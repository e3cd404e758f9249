"""The variants migration on a populated catalog: every product gets its default
variant with its SKU, price, stock, ledger and reservation lines, and going down
gives the schema before variants its rows back (refused while a product has several)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from shop.kit import migrations
from shop.kit.config import to_async_database_url
from tests.support import Databases, with_database

PRODUCTS = "shop.products:migrations"
BEFORE = "dc482363701d"  # the last revision without variants


def _plain(url: str) -> str:
    return to_async_database_url(url).replace("postgresql+asyncpg://", "postgresql://")


async def _run(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(_plain(url))
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


def run(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    return asyncio.run(_run(url, sql, *args))


@pytest.fixture
def scratch(databases: Databases, worker_id: str) -> Iterator[str]:
    name = f"test_variants_migration_{worker_id}"
    admin = databases.admin_url
    run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(admin, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin, name)
    finally:
        run(admin, f'DROP DATABASE "{name}" WITH (FORCE)')


def _populate(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Two products with stock, their ledger, and one order holding units of both."""
    lamp, mug, order = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for product_id, sku, price, on_hand, reserved in (
        (lamp, "LAMP-1", 4500, 5, 2),
        (mug, "MUG-1", 1250, 10, 3),
    ):
        run(
            url,
            "INSERT INTO products (id, sku, slug, name, description, price, currency,"
            " attributes, status, version) VALUES ($1, $2::varchar, lower($2::varchar),"
            " $2::varchar, '', $3, 'USD', '{}', 'active', 1)",
            product_id,
            sku,
            price,
        )
        run(
            url,
            "INSERT INTO inventory (product_id, on_hand, reserved) VALUES ($1, $2, $3)",
            product_id,
            on_hand,
            reserved,
        )
        run(
            url,
            "INSERT INTO stock_movements (product_id, on_hand_delta, reserved_delta, reason,"
            " note, actor) VALUES ($1, $2, 0, 'adjustment', 'initial stock', 'test'),"
            " ($1, 0, $3, 'reservation', '', 'test')",
            product_id,
            on_hand,
            reserved,
        )
    run(
        url,
        "INSERT INTO reservations (order_id, status, expires_at)"
        " VALUES ($1, 'held', now() + interval '1 hour')",
        order,
    )
    for product_id, sku, quantity, price in ((lamp, "LAMP-1", 2, 4500), (mug, "MUG-1", 3, 1250)):
        run(
            url,
            "INSERT INTO reservation_lines (order_id, product_id, quantity, unit_price,"
            " currency, name, sku) VALUES ($1, $2, $3, $4, 'USD', $5::varchar, $5::varchar)",
            order,
            product_id,
            quantity,
            price,
            sku,
        )
    return lamp, mug, order


def _state(url: str) -> dict[str, list[tuple[object, ...]]]:
    """What the schema before variants holds, in a stable order."""
    return {
        "inventory": [
            tuple(r)
            for r in run(url, "SELECT product_id, on_hand, reserved FROM inventory ORDER BY 1")
        ],
        "ledger": [
            tuple(r)
            for r in run(
                url,
                "SELECT product_id, on_hand_delta, reserved_delta, reason::text"
                " FROM stock_movements ORDER BY id",
            )
        ],
        "lines": [
            tuple(r)
            for r in run(
                url,
                "SELECT order_id, product_id, quantity, unit_price, sku"
                " FROM reservation_lines ORDER BY 2",
            )
        ],
    }


def test_every_product_gets_its_default_variant_and_going_down_restores_the_rows(
    scratch: str,
) -> None:
    migrations.upgrade(PRODUCTS, scratch, BEFORE)
    lamp, mug, order = _populate(scratch)
    before = _state(scratch)

    migrations.upgrade(PRODUCTS, scratch)

    variants = {
        r["product_id"]: r
        for r in run(
            scratch,
            "SELECT id, product_id, sku, price, title, options::text, status::text"
            " FROM product_variants",
        )
    }
    assert set(variants) == {lamp, mug}
    assert (variants[lamp]["sku"], variants[lamp]["price"]) == ("LAMP-1", 4500)
    assert (variants[mug]["sku"], variants[mug]["price"]) == ("MUG-1", 1250)
    assert {(v["title"], v["options"], v["status"]) for v in variants.values()} == {
        ("", "{}", "active")
    }
    stock = run(scratch, "SELECT variant_id, product_id, on_hand, reserved FROM inventory")
    assert {(r["variant_id"], r["on_hand"], r["reserved"]) for r in stock} == {
        (variants[lamp]["id"], 5, 2),
        (variants[mug]["id"], 10, 3),
    }
    ledger = run(scratch, "SELECT product_id, variant_id FROM stock_movements")
    assert len(ledger) == 4
    assert all(r["variant_id"] == variants[r["product_id"]]["id"] for r in ledger)
    lines = run(
        scratch, "SELECT product_id, variant_id, variant_title, quantity FROM reservation_lines"
    )
    assert {(r["variant_id"], r["variant_title"], r["quantity"]) for r in lines} == {
        (variants[lamp]["id"], "", 2),
        (variants[mug]["id"], "", 3),
    }
    assert [r["order_id"] for r in run(scratch, "SELECT order_id FROM reservations")] == [order]
    migrations.check(PRODUCTS, scratch)

    migrations.downgrade(PRODUCTS, scratch, BEFORE)

    assert _state(scratch) == before
    # And up again: the same default variants, made anew.
    migrations.upgrade(PRODUCTS, scratch)
    assert run(scratch, "SELECT count(*) AS n FROM product_variants")[0]["n"] == 2


def test_going_down_is_refused_while_a_product_has_several_variants(scratch: str) -> None:
    migrations.upgrade(PRODUCTS, scratch, BEFORE)
    lamp, _, _ = _populate(scratch)
    migrations.upgrade(PRODUCTS, scratch)
    run(
        scratch,
        "INSERT INTO product_variants (id, product_id, sku, title, options, price, status,"
        " position, version) VALUES (gen_random_uuid(), $1, 'LAMP-2', 'Big',"
        " '{\"Size\": \"Big\"}', 5000, 'archived', 1, 1)",
        lamp,
    )

    with pytest.raises(RuntimeError, match="1 products have more than one variant"):
        migrations.downgrade(PRODUCTS, scratch, BEFORE)

    # Nothing changed: still at the head, with both variants.
    assert run(scratch, "SELECT count(*) AS n FROM product_variants")[0]["n"] == 3
    migrations.check(PRODUCTS, scratch)
