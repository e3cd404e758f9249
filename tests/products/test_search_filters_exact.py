"""The PostgreSQL backend decides most products by their row's search columns and
reads the variants of the others only (pg_variants): every combination of price
range, stock and options must still answer exactly what docs/search.md#variants
says, variant by variant. A catalog with every case (one variant, prices that all
lie in a range or straddle its bounds, archived variants, sold-out values) is
searched with each combination, as a listing and as a text search, and the
results, totals and option facets are compared with the rules computed in Python."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from shop.products.search import PostgresSearch, ProductQuery
from tests.products.search_support import Catalog, search_catalog

__all__ = ["search_catalog"]  # fixtures


@dataclass(frozen=True)
class V:
    price: int
    stock: int
    options: dict[str, str]
    active: bool = True


CATALOG: dict[str, list[V]] = {
    "plain in stock": [V(1000, 5, {})],
    "plain sold out": [V(3000, 0, {})],
    "sizes spread": [
        V(1000, 0, {"Size": "S"}),
        V(2000, 3, {"Size": "M"}),
        V(3000, 0, {"Size": "L"}),
    ],
    "two options": [
        V(500, 1, {"Size": "S", "Color": "Red"}),
        V(5000, 0, {"Size": "M", "Color": "Blue"}),
        V(2600, 2, {"Size": "L", "Color": "Blue"}),
    ],
    "one price": [V(2500, 2, {"Size": "M"}), V(2500, 0, {"Size": "L"})],
    "archived cheap": [V(100, 5, {"Size": "S"}, active=False), V(4000, 0, {"Size": "M"})],
    "all sold out": [V(1500, 0, {"Size": "M"}), V(1500, 0, {"Size": "L"})],
    "archived stock": [
        V(1200, 4, {"Size": "M"}, active=False),
        V(1800, 0, {"Size": "M", "Fit": "Slim"}),
    ],
}

PRICES = [
    (None, None),
    (None, 1500),
    (None, 2500),
    (1000, None),
    (2000, None),
    (2600, None),
    (1000, 2500),
    (1500, 2000),
    (2000, 5000),
    (2600, 2600),
]
STOCK = [None, True, False]
OPTIONS: list[dict[str, list[str]]] = [
    {},
    {"Size": ["M"]},
    {"Size": ["M", "L"], "Color": ["Blue"]},
    {"Size": ["S", "M"]},
]


def _variant_ok(v: V, low: int | None, high: int | None, options: dict[str, list[str]]) -> bool:
    return (
        v.active
        and (low is None or v.price >= low)
        and (high is None or v.price <= high)
        and all(v.options.get(name) in values for name, values in options.items())
    )


def _matches(
    variants: list[V],
    low: int | None,
    high: int | None,
    stock: bool | None,
    options: dict[str, list[str]],
) -> bool:
    chosen = [v for v in variants if _variant_ok(v, low, high, options)]
    if stock is None:
        return bool(chosen)
    if stock:
        return any(v.stock > 0 for v in chosen)
    return bool(chosen) and not any(v.stock > 0 for v in chosen)


def _facets(
    low: int | None, high: int | None, stock: bool | None, options: dict[str, list[str]]
) -> dict[str, dict[str, int]]:
    """Each value: the products that asking it instead of its option's filter finds."""
    counted: dict[str, dict[str, int]] = {}
    for variants in CATALOG.values():
        pairs = {(k, val) for v in variants if v.active for k, val in v.options.items()}
        for name, value in pairs:
            asked = {**options, name: [value]}
            if _matches(variants, low, high, stock, asked):
                counted.setdefault(name, {})
                counted[name][value] = counted[name].get(value, 0) + 1
    return counted


async def _load(catalog: Catalog) -> None:
    specs = [
        {
            "name": f"Widget {name}",
            "variants": [
                {"sku": f"W{i}-{j}", "options": v.options, "price": v.price, "on_hand": v.stock}
                for j, v in enumerate(variants)
            ],
        }
        for i, (name, variants) in enumerate(CATALOG.items())
    ]
    await catalog.products(*specs)
    await catalog.execute(
        "UPDATE product_variants SET status = 'archived' WHERE sku = ANY(:skus)",
        skus=[
            f"W{i}-{j}"
            for i, variants in enumerate(CATALOG.values())
            for j, v in enumerate(variants)
            if not v.active
        ],
    )
    # The lowest active price, as the variant use cases keep it.
    await catalog.execute(
        "UPDATE products p SET price = (SELECT min(price) FROM product_variants v"
        " WHERE v.product_id = p.id AND v.status = 'active')"
    )


async def test_every_filter_combination_is_exact(search_catalog: Catalog) -> None:
    await _load(search_catalog)
    backend = PostgresSearch()
    checked = 0
    for (low, high), stock, options, q in itertools.product(
        PRICES, STOCK, OPTIONS, [None, "widget"]
    ):
        params: dict[str, Any] = {"limit": 100, "sort": "name"}
        params |= {
            k: v
            for k, v in (("min_price", low), ("max_price", high), ("in_stock", stock), ("q", q))
            if v is not None
        }
        params |= {f"option.{name}": values for name, values in options.items()}
        async with search_catalog.sessionmaker() as session:
            page = await backend.search(session, ProductQuery.model_validate(params))
        found = sorted(p.name.removeprefix("Widget ") for p in page.products)
        expected = sorted(
            name
            for name, variants in CATALOG.items()
            if _matches(variants, low, high, stock, options)
        )
        assert found == expected, params
        assert page.total == len(expected), params
        facets = {
            name: {value.value: value.count for value in values}
            for name, values in page.option_facets.items()
        }
        assert facets == _facets(low, high, stock, options), params
        checked += 1
    assert checked == len(PRICES) * len(STOCK) * len(OPTIONS) * 2
