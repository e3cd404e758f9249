"""A search answered from the :class:`~shop.products.search.mem_index.CatalogIndex`.

The same rules as the PostgreSQL backend (docs/search.md), with set operations:

- each word is the union of its forms' lexemes (as typed and completed, then each
  level of corrections); the products shown are those with every word, else those
  with the most words (a bit-sliced count over the words);
- ranking: the exact SKU first, then most words, then fewest typos (a word counts
  the typos of the best form a product has), then most words in the name, then in
  the category's name, then the newest (the highest position);
- category facets count the result set without the category filter, a leaf's count
  added to every category above it;
- option filters and facets ask one active variant for everything (see
  docs/search.md, "Variants"): checked product by product among the candidates the
  option bitmaps leave, at most :data:`MAX_CHECKED` of them (more: :class:`TooBroad`,
  and the caller asks PostgreSQL).

Pages: a cursor names the last product's place in that order (its bucket, then its
``(created_at, id)``), never a position, so any process
continues a walk another began.

The other sorts: ``newest`` is the positions' order; the price sorts walk the
index's price order, or sort the results when they are few. Their cursors are
PostgreSQL's own (the key and the id), so either backend continues the other's walk.

What it does not do: price filters and the name sort (its order is the database's
collation; the caller asks PostgreSQL for those).
"""

from __future__ import annotations

import bisect
import enum
import functools
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shop.products.search.mem_bitmaps import Postings, highest, positions
from shop.products.search.mem_index import CatalogIndex, IndexedProduct
from shop.products.search.pg_variants import option_pair, read_option_pair

__all__ = [
    "MAX_CHECKED",
    "IndexAnswer",
    "IndexCursor",
    "IndexQuery",
    "IndexSort",
    "KeyCursor",
    "TooBroad",
    "WordForms",
    "answer",
]

MAX_CHECKED = 5_000


class TooBroad(Exception):
    """More products to check variant by variant than an answer from the index should."""


@dataclass(frozen=True)
class WordForms:
    """A word of the query as the catalog's lexemes: as typed (with its completions),
    the typed word's own lexemes as prefixes when it is the last word, and its
    corrections by number of typos."""

    typed: tuple[str, ...]
    prefixes: tuple[str, ...] = ()
    corrections: Mapping[int, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class IndexCursor:
    """The last product of a page: its bucket (the exact SKU's first, then fewest typos,
    then most words in the name) and, in it, its age (newest first)."""

    not_sku: bool
    typos: int
    not_in_name: int  # minus the words in the name: ascending like the others
    not_in_category: int  # minus the words in the category's name
    created_at: datetime
    id: uuid.UUID

    @property
    def bucket(self) -> tuple[bool, int, int, int]:
        return (self.not_sku, self.typos, self.not_in_name, self.not_in_category)


class IndexSort(enum.Enum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"


# A relevance bucket: (not the exact SKU, typos, minus the words in the name, minus
# those in the category's name); ascending is best first.
Bucket = tuple[bool, int, int, int]
# (key, id) of the last product of a page of a sort other than relevance: its
# created_at (newest) or price, as PostgreSQL's cursors carry them.
KeyCursor = tuple[Any, uuid.UUID]
# Results up to this many are sorted by price directly; more, the price order walked.
SORT_DIRECTLY = 2_000


@dataclass(frozen=True)
class IndexQuery:
    words: tuple[WordForms, ...]
    limit: int
    sort: IndexSort = IndexSort.RELEVANCE
    subtree: frozenset[uuid.UUID] | None = None  # the category filter's categories
    in_stock: bool | None = None
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> values
    sku_products: frozenset[uuid.UUID] = frozenset()  # the exact SKU's
    after: IndexCursor | KeyCursor | None = None  # IndexCursor: relevance's


@dataclass
class IndexAnswer:
    total: int
    page: list[uuid.UUID]
    next: IndexCursor | KeyCursor | None  # None: the last page
    categories: dict[uuid.UUID, int]  # subtree counts, without the category filter
    options: dict[str, int]  # option pair -> products choosing it would find


def _add(planes: list[int], bits: int) -> list[int]:
    """Bit-sliced counters: adds one to every product of ``bits``."""
    out, carry = [], bits
    for plane in planes:
        out.append(plane ^ carry)
        carry &= plane
    if carry:
        out.append(carry)
    return out


def _equal(planes: list[int], k: int, among: int) -> int:
    """The products of ``among`` whose counter is ``k``."""
    if k >> len(planes):
        return 0
    found = among
    for i, plane in enumerate(planes):
        found &= plane if (k >> i) & 1 else ~plane
    return found


@dataclass
class _Text:
    """Per product: how many words, how many typos, how many words in the name."""

    words: list[int]
    typos: list[int]
    in_name: list[int]
    in_category: list[int]
    count: int


def _union(table: Mapping[str, Postings], lexemes: Sequence[str]) -> int:
    bits = 0
    for lexeme in lexemes:
        postings = table.get(lexeme)
        if postings is not None:
            bits |= postings.bits()
    return bits


def _text(index: CatalogIndex, words: Sequence[WordForms]) -> _Text:
    counted: list[int] = []
    typos: list[int] = []
    in_name: list[int] = []
    in_category: list[int] = []
    for word in words:
        typed = list(word.typed)
        for prefix in word.prefixes:
            typed += index.lexemes_from(prefix)
        seen = _union(index.anywhere, typed)
        every_form = list(typed)
        for count in sorted(word.corrections):
            forms = word.corrections[count]
            # A product counts the typos of the best form it has.
            fresh = _union(index.anywhere, forms) & ~seen
            for _ in range(count):
                typos = _add(typos, fresh)
            seen |= fresh
            every_form += forms
        counted = _add(counted, seen)
        in_name = _add(in_name, _union(index.in_name, every_form))
        in_category = _add(in_category, _union(index.in_category, every_form))
    return _Text(counted, typos, in_name, in_category, len(words))


def _variant_matches(
    product: IndexedProduct, options: Mapping[str, tuple[str, ...]], in_stock: bool | None
) -> bool:
    """One active variant has every option asked (and, with ``in_stock=true``, units);
    with ``in_stock=false``, some variant has the options and none of those has units."""
    chosen = [
        variant
        for variant in product.variants
        if all(
            any(_read_pair(pair) in asked for pair in variant.pairs)
            for asked in ({(name, v) for v in values} for name, values in options.items())
        )
    ]
    if in_stock is None:
        return bool(chosen)
    if in_stock:
        return any(variant.stocked for variant in chosen)
    return bool(chosen) and not any(variant.stocked for variant in chosen)


def _having(index: CatalogIndex, name: str, values: Sequence[str], in_stock: bool | None) -> int:
    """The products with an active variant of one of ``values`` for option ``name``
    (and with ``in_stock``, units on it; ``in_stock=false``: none of those has units):
    exact from the pairs' bitmaps, one option being one variant's."""
    having = stocked = 0
    for value in values:
        pair = _pair(name, value)
        if (postings := index.pairs.get(pair)) is not None:
            having |= postings.bits()
        if in_stock is not None and (postings := index.stocked_pairs.get(pair)) is not None:
            stocked |= postings.bits()
    if in_stock is None:
        return having
    return stocked if in_stock else having & ~stocked


def _filtered(
    index: CatalogIndex,
    among: int,
    options: Mapping[str, tuple[str, ...]],
    in_stock: bool | None,
) -> int:
    """The products of ``among`` that pass the option and stock filters."""
    if not options:
        if in_stock is None:
            return among
        return among & index.stocked.bits() if in_stock else among & ~index.stocked.bits()
    if len(options) == 1:
        [(name, values)] = options.items()
        return among & _having(index, name, values, in_stock)
    # Several options must be one variant's: the bitmaps narrow, the variants decide.
    candidates = among
    for name, values in options.items():
        candidates &= _having(index, name, values, None)
    if candidates.bit_count() > MAX_CHECKED:
        raise TooBroad
    bits = 0
    for position in positions(candidates):
        product = index.product_at(position)
        if product is not None and _variant_matches(product, options, in_stock):
            bits |= 1 << position
    return bits


@functools.cache
def _read_pair(pair: str) -> tuple[str, str]:
    return read_option_pair(pair)


def _pair(name: str, value: str) -> str:
    return option_pair(name, value)


def _subtree(index: CatalogIndex, subtree: frozenset[uuid.UUID]) -> int:
    bits = 0
    for category in subtree:
        postings = index.leaf.get(category)
        if postings is not None:
            bits |= postings.bits()
    return bits


def _category_counts(index: CatalogIndex, results: int) -> dict[uuid.UUID, int]:
    """Each category's results, its subtree's included."""
    categories = index.categories
    by_path: dict[str, int] = defaultdict(int)
    for category, postings in index.leaf.items():
        if category is None or category not in categories:
            continue
        if count := (results & postings.bits()).bit_count():
            parts = categories[category].path.split("/")
            for depth in range(1, len(parts) + 1):
                by_path["/".join(parts[:depth])] += count
    return {
        category: by_path[facts.path]
        for category, facts in categories.items()
        if by_path.get(facts.path)
    }


def _option_counts(index: CatalogIndex, query: IndexQuery, base: int) -> dict[str, int]:
    """Per option pair: the products choosing it would find, its option's own filter
    left out, every other filter kept."""
    counts: dict[str, int] = {}
    names = {_read_pair(pair)[0] for pair in index.pairs}
    for name in names:
        others = {n: v for n, v in query.options.items() if n != name}
        # Stock is asked of the variant that has the value too: judged below, with it.
        among = _filtered(index, base, others, None)
        for pair, postings in index.pairs.items():
            pair_name, value = _read_pair(pair)
            if pair_name != name:
                continue
            asked = {**others, name: (value,)}
            if not others and query.in_stock is None:
                count = (among & postings.bits()).bit_count()
            else:
                count = _filtered(index, among & postings.bits(), asked, query.in_stock).bit_count()
            if count:
                counts[pair] = count
    return counts


def answer(index: CatalogIndex, query: IndexQuery) -> IndexAnswer:
    """The query's total, page (by relevance, after the cursor) and facets. Raises
    :class:`TooBroad` when the option filters leave too many products to check."""
    text = _text(index, query.words)
    live = index.live()
    sku = 0
    for product_id in query.sku_products:
        position = index.position_of(product_id)
        if position is not None:
            sku |= 1 << position
    subtree = _subtree(index, query.subtree) if query.subtree is not None else None
    # The tier shown: every word (or the exact SKU), else the most words some product
    # has, among the products every filter but the category's leaves.
    filtered = _filtered(index, live, query.options, query.in_stock)
    words_shown = text.count
    while words_shown and not (_equal(text.words, words_shown, filtered) | (sku & filtered)):
        words_shown -= 1
    tier = (_equal(text.words, words_shown, live) if words_shown else 0) | (sku & live)
    matched = tier & filtered
    shown = matched & subtree if subtree is not None else matched
    last: IndexCursor | KeyCursor | None
    if query.sort is IndexSort.RELEVANCE:
        page, last = _page(index, text, shown, sku, query)
    else:
        page, last = _page_by_key(index, shown, query)
    in_category = tier & subtree if subtree is not None else tier
    return IndexAnswer(
        total=shown.bit_count(),
        page=page,
        next=last,
        categories=_category_counts(index, matched),
        options=_option_counts(index, query, in_category),
    )


def _page(
    index: CatalogIndex, text: _Text, shown: int, sku: int, query: IndexQuery
) -> tuple[list[uuid.UUID], IndexCursor | None]:
    """The page's products, bucket by bucket, newest first in each; and the cursor
    after it if more follow."""
    after = query.after
    assert after is None or isinstance(after, IndexCursor)
    wanted = query.limit + 1  # one more: is there a next page?
    found: list[tuple[Bucket, int]] = []
    for not_sku, group in ((False, shown & sku), (True, shown & ~sku)):
        for typos in range(1 << len(text.typos)):
            with_typos = _equal(text.typos, typos, group)
            for in_name in range(text.count, -1, -1):
                named = _equal(text.in_name, in_name, with_typos) if with_typos else 0
                for in_category in range(text.count, -1, -1) if named else ():
                    bucket = (not_sku, typos, -in_name, -in_category)
                    if len(found) >= wanted or (after is not None and bucket < after.bucket):
                        continue
                    bits = _equal(text.in_category, in_category, named)
                    if after is not None and bucket == after.bucket:
                        bits &= (1 << index.older_than((after.created_at, after.id))) - 1
                    found += [(bucket, p) for p in highest(bits, wanted - len(found))]
    shown_products = [(bucket, _at(index, p)) for bucket, p in found][: query.limit]
    last = None
    if len(found) > query.limit and shown_products:
        bucket, product = shown_products[-1]
        last = IndexCursor(*bucket, product.created_at, product.id)
    return [product.id for _, product in shown_products], last


def _page_by_key(
    index: CatalogIndex, shown: int, query: IndexQuery
) -> tuple[list[uuid.UUID], KeyCursor | None]:
    """A page of ``newest`` or a price sort, after the cursor's (key, id)."""
    wanted = query.limit + 1
    after = query.after
    assert after is None or isinstance(after, tuple)
    found: list[IndexedProduct] = []
    if query.sort is IndexSort.NEWEST:
        if after is not None:
            shown &= (1 << index.older_than(after)) - 1
        found = [_at(index, p) for p in highest(shown, wanted)]
    elif shown.bit_count() <= SORT_DIRECTLY:
        descending = query.sort is IndexSort.PRICE_DESC
        few = sorted(map(_at_of(index), positions(shown)), key=_price_key, reverse=descending)
        if after is not None:
            few = [
                p for p in few if (_price_key(p) < after if descending else _price_key(p) > after)
            ]
        found = few[:wanted]
    else:
        found = _walk_prices(index, shown, query.sort is IndexSort.PRICE_DESC, after, wanted)
    last = None
    if len(found) > query.limit:
        product = found[query.limit - 1]
        key = product.created_at if query.sort is IndexSort.NEWEST else product.price
        last = (key, product.id)
    return [product.id for product in found[: query.limit]], last


def _walk_prices(
    index: CatalogIndex, shown: int, descending: bool, after: KeyCursor | None, wanted: int
) -> list[IndexedProduct]:
    """The first ``wanted`` of ``shown`` in price order, from the cursor on."""
    order = index.by_price
    if descending:
        start = len(order) if after is None else bisect.bisect_left(order, (*after, -1))
        steps = range(start - 1, -1, -1)
    else:
        start = 0 if after is None else bisect.bisect_right(order, (*after, math.inf))
        steps = range(start, len(order))
    found: list[IndexedProduct] = []
    for step in steps:
        position = order[step][2]
        if shown >> position & 1:
            found.append(_at(index, position))
            if len(found) == wanted:
                break
    return found


def _price_key(product: IndexedProduct) -> tuple[int, uuid.UUID]:
    return (product.price, product.id)


def _at_of(index: CatalogIndex) -> Callable[[int], IndexedProduct]:
    return functools.partial(_at, index)


def _at(index: CatalogIndex, position: int) -> IndexedProduct:
    product = index.product_at(position)
    assert product is not None  # a live position
    return product
