"""Keyset pages: a walk sees every product once, in order, while products are added."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.products.search_engines import every_backend
from tests.products.search_node import opensearch_url
from tests.products.search_support import SearchFixture, search, search_catalog, search_tokens

__all__ = ["opensearch_url", "search", "search_catalog", "search_tokens"]  # fixtures

COUNT = 260
LIMIT = 7
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _catalog(rng: random.Random, count: int, prefix: str) -> list[dict[str, Any]]:
    """Products with many ties in every sort key (prices, times, names, relevance)."""
    specs = []
    for i in range(count):
        spec: dict[str, Any] = {
            "name": f"{rng.choice(['Blue', 'Red', 'Green'])} Gadget {rng.randrange(40):02d}",
            "price": rng.choice([100, 250, 999, 1000, 4999]) + rng.randrange(3),
            "description": rng.choice(["", "a gadget", "gadget gadget gadget"]),
            "sku": f"{prefix}-{i:04d}",
        }
        if i % 2:  # the other half share the transaction's now()
            spec["created_at"] = BASE + timedelta(minutes=rng.randrange(50))
        specs.append(spec)
    return specs


def _key(sort: str, item: dict[str, Any]) -> Any:
    return {
        "price_asc": lambda: item["price"],
        "price_desc": lambda: -item["price"],
        "newest": lambda: -datetime.fromisoformat(item["created_at"]).timestamp(),
    }[sort]()


@every_backend
@pytest.mark.parametrize(
    "params",
    [
        {"sort": "newest"},
        {"sort": "price_asc"},
        {"sort": "price_desc"},
        {"sort": "name"},
        {"q": "gadget"},
        {"q": "gadgte blue"},
        {"q": "gadget", "sort": "price_desc", "min_price": 200},
        {"q": "gadget", "sort": "newest"},
        {"q": "gadgte", "sort": "price_asc"},
        {"q": "blue gadget", "sort": "price_desc"},
        {"q": "gadget", "sort": "name"},
    ],
    ids=lambda params: "-".join(str(v) for v in params.values()),
)
async def test_a_walk_sees_every_product_once_in_order(
    search: SearchFixture, params: dict[str, Any]
) -> None:
    rng = random.Random(7)  # noqa: S311 (test data)
    await search.catalog.products(*_catalog(rng, COUNT, "A"))
    expected = await search.walk(**params, limit=100)  # the order, in big pages
    assert len({item["id"] for item in expected}) == len(expected)
    assert expected, params

    walked = await search.walk(**params, limit=LIMIT)
    assert [item["id"] for item in walked] == [item["id"] for item in expected]
    if params.get("sort") in ("newest", "price_asc", "price_desc"):
        keys = [_key(params["sort"], item) for item in walked]
        assert keys == sorted(keys)
    if "q" not in params and "min_price" not in params:
        assert len(walked) == COUNT
    first = await search.list(**params, limit=LIMIT)
    assert first["total"] == len(expected)


@every_backend
@pytest.mark.parametrize("sort", ["newest", "price_asc", "price_desc", "name", "relevance"])
async def test_products_added_during_a_walk_never_repeat_what_was_seen(
    search: SearchFixture, sort: str
) -> None:
    rng = random.Random(11)  # noqa: S311 (test data)
    await search.catalog.products(*_catalog(rng, COUNT, "A"))
    params: dict[str, Any] = {"sort": sort, "limit": LIMIT}
    if sort == "relevance":
        params["q"] = "gadget"

    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        page = await search.list(**params, **({"cursor": cursor} if cursor else {}))
        seen += page["items"]
        cursor = page["next_cursor"]
        pages += 1
        if pages in (3, 12, 25):  # others write to the catalog meanwhile
            await search.catalog.products(*_catalog(rng, 10, f"B{pages}"))
        if cursor is None:
            break

    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids)), "a product was shown twice"
    original = {item["sku"] for item in seen if item["sku"].startswith("A-")}
    assert len(original) == COUNT, "a product that was there all along was skipped"
    if sort in ("newest", "price_asc", "price_desc"):
        keys = [_key(sort, item) for item in seen]
        assert keys == sorted(keys)
    if sort == "newest":  # added now, so newer than the first page: never shown
        added_now = [
            item
            for item in seen
            if item["sku"].startswith("B")
            and datetime.fromisoformat(item["created_at"]) > BASE + timedelta(days=1)
        ]
        assert added_now == []


@every_backend
@pytest.mark.parametrize("sort", ["price_asc", "price_desc", "newest", "name"])
async def test_cursors_hold_keys_of_any_size(search: SearchFixture, sort: str) -> None:
    await search.catalog.products(
        {"name": "Yacht " + "x" * 150, "price": 10**12},
        {"name": "Jet " + "é" * 150, "price": 5_000_000_000},
        {"name": "Car", "price": 2**31},
    )
    walked = await search.walk(sort=sort, limit=1)
    assert len(walked) == 3
    walked = await search.walk(sort=sort, q="yacht jet car", limit=1)
    assert len(walked) == 3  # none has every word: each matches one, the most there is
    assert len(await search.walk(sort=sort, min_price=2**31, limit=1)) == 3
