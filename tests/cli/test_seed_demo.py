"""`shop seed-demo` loads the demo catalog through the catalog's use cases, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio

from shop.cli.demo import demo_catalog
from shop.products.cache import GENERATION_KEY
from tests.products.conftest import plain_url, truncate
from tests.support import Databases

PRODUCTS = 60
COUNTS = {
    "categories": "SELECT count(*) FROM categories",
    "products": "SELECT count(*) FROM products",
    "inventory": "SELECT count(*) FROM inventory",
    "ledger": "SELECT count(*) FROM stock_movements",
    "images": "SELECT count(*) FROM product_images",
    "outbox": "SELECT count(*) FROM outbox",
    "versions": "SELECT sum(version) FROM products",
}


def seed_demo(
    databases: Databases, redis_url: str, data_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env |= {
        "PRODUCTS_DATABASE_URL": databases.urls["products"],
        "REDIS_URL": redis_url,
        "SHOP_DATA_DIR": str(data_dir),
        "LOG_FORMAT": "json",
    }
    return subprocess.run(
        [sys.executable, "-m", "shop", "seed-demo", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
async def db(databases: Databases, redis_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_url(databases.urls["products"]))
    try:
        yield connection
    finally:
        await connection.close()
        await truncate(databases, redis_url)


async def counts(db: asyncpg.Connection) -> dict[str, Any]:
    return {name: await db.fetchval(query) for name, query in COUNTS.items()}


async def generation(redis_url: str) -> int:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        return int(await client.get(GENERATION_KEY) or 0)
    finally:
        await client.aclose()


def progress(stderr: str) -> dict[str, tuple[int, int]]:
    """(done, total) of each task, from the last progress line of each in the log."""
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    found = {}
    for line in lines:
        if line["event"] == "progress":
            assert line["per_second"] > 0, line
            found[line["task"]] = (line["done"], line["total"])
    return found


def files(data_dir: Path) -> list[Path]:
    return sorted(path for path in (data_dir / "media").rglob("*") if path.is_file())


async def test_seeds_the_catalog_once(
    databases: Databases, redis_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    data_dir = tmp_path / "data"
    demo = demo_catalog(PRODUCTS)
    # One inventory row per variant; one "initial stock" ledger row per stocked one.
    variants = [
        (p.initial_stock,) if not p.variants else tuple(v.initial_stock for v in p.variants)
        for p in demo.products
    ]
    stocked = sum(1 for units in variants for unit in units if unit)
    sold = sum(len(units) for units in variants)
    assert sold > PRODUCTS  # some products come in sizes, colours or capacities

    first = seed_demo(databases, redis_url, data_dir, "--products", str(PRODUCTS))

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        f"Created {len(demo.categories)} categories, {PRODUCTS} products, {PRODUCTS} images;"
        " skipped 0 categories, 0 products and 0 images that were already there."
    )
    # Not a terminal: the progress is told in log lines, with the counts and the rate.
    assert progress(first.stderr) == {
        "demo products": (PRODUCTS, PRODUCTS),
        "demo pictures": (PRODUCTS, PRODUCTS),
    }
    after_first = await counts(db)
    assert after_first["categories"] == len(demo.categories)
    assert after_first["products"] == PRODUCTS
    assert after_first["inventory"] == sold
    assert after_first["ledger"] == stocked
    assert after_first["images"] == PRODUCTS
    assert after_first["outbox"] >= PRODUCTS  # the search index hears of every product
    # The original and the thumbnail of each picture, in the local media storage.
    stored = files(data_dir)
    assert len(stored) == 2 * PRODUCTS
    assert {path.suffix for path in stored} == {".png", ".webp"}
    cache_generation = await generation(redis_url)
    assert cache_generation > 0  # cached reads were invalidated

    # The rows are the demo catalog's, written as the API would write them.
    expected = demo.products[0]
    row = await db.fetchrow(
        "SELECT p.slug, p.name, p.price, p.currency, p.status::text AS status, p.attributes,"
        " c.slug AS category, i.on_hand, i.reserved FROM products p"
        " JOIN categories c ON c.id = p.category_id"
        " JOIN inventory i ON i.product_id = p.id WHERE p.sku = $1",
        expected.sku,
    )
    assert row["slug"] == expected.slug
    assert row["name"] == expected.name
    assert (row["price"], row["currency"]) == (expected.price, "USD")
    assert row["status"] == expected.status.value
    assert row["category"] == expected.category_slug
    assert (row["on_hand"], row["reserved"]) == (expected.initial_stock, 0)
    actors = await db.fetch("SELECT DISTINCT actor, note, reason::text FROM stock_movements")
    assert [tuple(actor) for actor in actors] == [("seed-demo", "initial stock", "adjustment")]
    subtree = await db.fetchval(
        "SELECT count(*) FROM categories c JOIN categories top ON c.path LIKE top.path || '/%'"
        " WHERE top.slug = 'audio'"
    )
    assert subtree == 4  # headphones, earbuds, speakers, turntables
    # Drawn by Pillow, stored as an upload is: the file the row names is on disk.
    image = await db.fetchrow(
        "SELECT storage_key, thumbnail_key, width, height, size_bytes FROM product_images LIMIT 1"
    )
    original = data_dir / "media" / image["storage_key"]
    assert original.stat().st_size == image["size_bytes"]
    assert (data_dir / "media" / image["thumbnail_key"]).is_file()
    assert (image["width"], image["height"]) == (400, 400)
    # Only what was needed started: no embedded PostgreSQL or Redis.
    assert not (data_dir / "postgres").exists()
    assert not (data_dir / "redis").exists()

    second = seed_demo(databases, redis_url, data_dir, "--products", str(PRODUCTS))

    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == (
        f"Created 0 categories, 0 products, 0 images; skipped {len(demo.categories)}"
        f" categories, {PRODUCTS} products and {PRODUCTS} images that were already there."
    )
    assert await counts(db) == after_first  # nothing new, no version moved
    assert progress(second.stderr) == {}  # nothing to do, nothing to show
    assert files(data_dir) == stored
    assert await generation(redis_url) == cache_generation  # nothing written, nothing to bump


async def test_a_picture_missing_after_an_interruption_is_added(
    databases: Databases, redis_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    data_dir = tmp_path / "data"
    assert seed_demo(databases, redis_url, data_dir, "--products", "3").returncode == 0
    await db.execute(
        "DELETE FROM product_images WHERE product_id = (SELECT id FROM products WHERE sku = $1)",
        demo_catalog(3).products[1].sku,
    )

    result = seed_demo(databases, redis_url, data_dir, "--products", "5")

    assert result.returncode == 0, result.stderr
    assert "Created 0 categories, 2 products, 3 images" in result.stdout
    assert await db.fetchval("SELECT count(*) FROM product_images") == 5
    assert await db.fetchval("SELECT count(*) FROM products") == 5


async def test_no_images_skips_the_pictures_and_a_later_run_adds_them(
    databases: Databases, redis_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """A later run adds the pictures `--no-images` left out, and new products with theirs."""
    data_dir = tmp_path / "data"
    demo = demo_catalog(4)

    result = seed_demo(databases, redis_url, data_dir, "--products", "4", "--no-images")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"Created {len(demo.categories)} categories, 4 products, 0 images; skipped 0"
        " categories, 0 products and 0 images that were already there; no pictures drawn"
        " (--no-images)."
    )
    assert await db.fetchval("SELECT count(*) FROM products") == 4
    assert await db.fetchval("SELECT count(*) FROM product_images") == 0
    assert not (data_dir / "media").exists() or files(data_dir) == []

    later = seed_demo(databases, redis_url, data_dir, "--products", "5")

    assert later.returncode == 0, later.stderr
    assert "Created 0 categories, 1 products, 5 images" in later.stdout
    assert await db.fetchval("SELECT count(*) FROM product_images") == 5
    assert await db.fetchval("SELECT count(*) FROM products") == 5


@pytest.mark.parametrize("count", ["lots", "-5", "100001"])
def test_refuses_a_bad_product_count(
    databases: Databases, redis_url: str, tmp_path: Path, count: str
) -> None:
    result = seed_demo(databases, redis_url, tmp_path, f"--products={count}")
    assert result.returncode == 2
    assert "--products" in result.stderr
