"""The page of an answer from the in-process index, after the query's cursor.

Relevance: bucket by bucket in rank order (the exact SKU's first, then fewest typos,
most words in the name, most in the category's name), the newest first in each; the
cursor names the last product's bucket and ``(created_at, id)``, never a position, so
any process continues a walk another began. ``newest``: the positions' order. The
price and name sorts: the results found in the index's price or name order a block
at a time (mem_orders), or sorted when they are few; their cursors are PostgreSQL's
own (the key and the id), so either backend continues the other's walk.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from shop.products.search.mem_bitmaps import count_equal, highest, positions
from shop.products.search.mem_index import CatalogIndex, IndexedProduct
from shop.products.search.mem_query import (
    Bucket,
    IndexCursor,
    IndexQuery,
    IndexSort,
    KeyCursor,
    TextCounts,
)

__all__ = ["SORT_DIRECTLY", "key_page", "relevance_page"]

# Results up to this many are sorted directly; more, found in the order's blocks.
SORT_DIRECTLY = 200


def relevance_page(
    index: CatalogIndex, text: TextCounts, shown: int, sku: int, query: IndexQuery
) -> tuple[list[uuid.UUID], IndexCursor | None]:
    """The page's products, bucket by bucket, newest first in each; and the cursor
    after it if more follow."""
    after = query.after
    assert after is None or isinstance(after, IndexCursor)
    wanted = query.limit + 1  # one more: is there a next page?
    found: list[tuple[Bucket, int]] = []
    for not_sku, group in ((False, shown & sku), (True, shown & ~sku)):
        for typos in range(1 << len(text.typos)):
            with_typos = count_equal(text.typos, typos, group)
            for in_name in range(text.count, -1, -1):
                named = count_equal(text.in_name, in_name, with_typos) if with_typos else 0
                for in_category in range(text.count, -1, -1) if named else ():
                    bucket = (not_sku, typos, -in_name, -in_category)
                    if len(found) >= wanted or (after is not None and bucket < after.bucket):
                        continue
                    bits = count_equal(text.in_category, in_category, named)
                    if after is not None and bucket == after.bucket:
                        bits &= (1 << index.older_than((after.created_at, after.id))) - 1
                    found += [(bucket, p) for p in highest(bits, wanted - len(found))]
    shown_products = [(bucket, _at(index, p)) for bucket, p in found][: query.limit]
    last = None
    if len(found) > query.limit and shown_products:
        bucket, product = shown_products[-1]
        last = IndexCursor(*bucket, product.created_at, product.id)
    return [product.id for _, product in shown_products], last


def key_page(
    index: CatalogIndex, shown: int, query: IndexQuery
) -> tuple[list[uuid.UUID], KeyCursor | None]:
    """A page of ``newest``, a price sort or ``name``, after the cursor's (key, id)."""
    wanted = query.limit + 1
    after = query.after
    assert after is None or isinstance(after, tuple)
    found: list[IndexedProduct] = []
    if query.sort is IndexSort.NEWEST:
        if after is not None:
            shown &= (1 << index.older_than(after)) - 1
        found = [_at(index, p) for p in highest(shown, wanted)]
    else:
        descending = query.sort is IndexSort.PRICE_DESC
        key = _name_key if query.sort is IndexSort.NAME else _price_key
        if shown.bit_count() <= SORT_DIRECTLY:
            few = sorted(map(_at_of(index), positions(shown)), key=key, reverse=descending)
            if after is not None:
                few = [p for p in few if (key(p) < after if descending else key(p) > after)]
            found = few[:wanted]
        else:
            order = index.by_name if query.sort is IndexSort.NAME else index.by_price
            first = order.first(
                shown,
                wanted,
                lambda position: key(_at(index, position)),
                after=after,
                descending=descending,
            )
            found = [_at(index, position) for position in first]
    last = None
    if len(found) > query.limit:
        product = found[query.limit - 1]
        last = (_key_of(query.sort, product), product.id)
    return [product.id for product in found[: query.limit]], last


def _key_of(sort: IndexSort, product: IndexedProduct) -> Any:
    if sort is IndexSort.NEWEST:
        return product.created_at
    return product.name if sort is IndexSort.NAME else product.price


def _name_key(product: IndexedProduct) -> tuple[str, uuid.UUID]:
    return (product.name, product.id)


def _price_key(product: IndexedProduct) -> tuple[int, uuid.UUID]:
    return (product.price, product.id)


def _at_of(index: CatalogIndex) -> Callable[[int], IndexedProduct]:
    return functools.partial(_at, index)


def _at(index: CatalogIndex, position: int) -> IndexedProduct:
    product = index.product_at(position)
    assert product is not None  # a live position
    return product
