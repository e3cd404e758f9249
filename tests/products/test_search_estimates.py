"""Totals and facets of large listings are estimated from the fixed one-in-16 sample
(pg_counts): above the threshold, 16 times the sample's count; at or below it,
exact. The threshold is lowered here so that a small catalog is "large"."""

from __future__ import annotations

import uuid

import pytest

from shop.products.search import PostgresSearch, ProductQuery, pg_counts
from tests.products.search_support import Catalog, search_catalog

__all__ = ["search_catalog"]  # fixtures

THRESHOLD = 40


def sampled(product_id: uuid.UUID) -> bool:
    return str(product_id).endswith("0")


async def test_large_listings_are_estimated_from_the_sample(
    search_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_counts, "ESTIMATE_ABOVE", THRESHOLD)
    await search_catalog.category("Big", "big")
    await search_catalog.category("Small", "small")
    big = await search_catalog.products(
        *(
            {
                "category": "big",
                "variants": [
                    {"sku": f"B{i}-S", "options": {"Size": "S"}, "price": 1000, "on_hand": 3},
                    {"sku": f"B{i}-M", "options": {"Size": "M"}, "price": 1200, "on_hand": 0},
                ],
            }
            for i in range(320)
        )
    )
    small = await search_catalog.products(
        *({"category": "small", "on_hand": 0 if i < 5 else 4} for i in range(20))
    )
    backend = PostgresSearch()

    async def listing(**params: object) -> tuple[int, dict[str, int], dict[str, int]]:
        async with search_catalog.sessionmaker() as session:
            page = await backend.search(session, ProductQuery.model_validate(params))
        sizes = {v.value: v.count for v in page.option_facets.get("Size", [])}
        return page.total, {f.slug: f.count for f in page.facets}, sizes

    big_sample = sum(1 for p in big if sampled(p.id))
    small_sample = sum(1 for p in small if sampled(p.id))
    assert 16 * (big_sample + small_sample) > THRESHOLD  # 340 products: 1 in 16 of them

    total, categories, sizes = await listing()
    assert total == 16 * (big_sample + small_sample)
    assert categories == {
        slug: n for slug, n in (("big", 16 * big_sample), ("small", 16 * small_sample)) if n
    }
    assert sizes == ({"S": 16 * big_sample, "M": 16 * big_sample} if big_sample else {})

    # A category estimated at most the threshold is counted exactly (its facets are
    # the whole listing's, estimated).
    total, categories, _ = await listing(category="small")
    assert total == (20 if 16 * small_sample <= THRESHOLD else 16 * small_sample)
    assert categories.get("big") == (16 * big_sample or None)

    # Few results (the sample says so): everything exact.
    sold_out_sample = sum(1 for p in small[:5] if sampled(p.id))
    total, categories, sizes = await listing(in_stock="false")
    if 16 * sold_out_sample <= THRESHOLD:  # all but certain: 5 products
        assert (total, categories) == (5, {"small": 5})
        # Sizes of which no variant has units: every big product's M.
        assert sizes == {"M": 320}

    # Pages are not counted: walking them shows every product once.
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 100, "category": "big"}
        if cursor:
            params["cursor"] = cursor
        async with search_catalog.sessionmaker() as session:
            page = await backend.search(session, ProductQuery.model_validate(params))
        seen += [p.id for p in page.products]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(p.id for p in big)


async def test_small_catalogs_are_counted_exactly(search_catalog: Catalog) -> None:
    await search_catalog.category("Big", "big")
    await search_catalog.products(*({"category": "big"} for _ in range(50)))
    async with search_catalog.sessionmaker() as session:
        page = await PostgresSearch().search(session, ProductQuery.model_validate({}))
    assert page.total == 50
    assert [(f.slug, f.count) for f in page.facets] == [("big", 50)]
