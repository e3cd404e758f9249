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

The page, in any of the sorts, and its cursor: :mod:`shop.products.search.mem_pages`.

What it does not do: price filters and the name sort (its order is the database's
collation; the caller asks PostgreSQL for those).
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence

from shop.products.search.mem_bitmaps import Postings, count_add, count_equal, positions
from shop.products.search.mem_index import CatalogIndex, IndexedProduct
from shop.products.search.mem_pages import key_page, relevance_page
from shop.products.search.mem_query import (
    IndexAnswer,
    IndexCursor,
    IndexQuery,
    IndexSort,
    KeyCursor,
    TextCounts,
    WordForms,
)
from shop.products.search.pg_variants import option_pair, read_option_pair

__all__ = ["MAX_CHECKED", "TooBroad", "answer"]

MAX_CHECKED = 5_000


class TooBroad(Exception):
    """More products to check variant by variant than an answer from the index should."""


def _union(table: Mapping[str, Postings], lexemes: Sequence[str]) -> int:
    bits = 0
    for lexeme in lexemes:
        postings = table.get(lexeme)
        if postings is not None:
            bits |= postings.bits()
    return bits


def _text(index: CatalogIndex, words: Sequence[WordForms]) -> TextCounts:
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
                typos = count_add(typos, fresh)
            seen |= fresh
            every_form += forms
        counted = count_add(counted, seen)
        in_name = count_add(in_name, _union(index.in_name, every_form))
        in_category = count_add(in_category, _union(index.in_category, every_form))
    return TextCounts(counted, typos, in_name, in_category, len(words))


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
    while words_shown and not (count_equal(text.words, words_shown, filtered) | (sku & filtered)):
        words_shown -= 1
    tier = (count_equal(text.words, words_shown, live) if words_shown else 0) | (sku & live)
    matched = tier & filtered
    shown = matched & subtree if subtree is not None else matched
    last: IndexCursor | KeyCursor | None
    if query.sort is IndexSort.RELEVANCE:
        page, last = relevance_page(index, text, shown, sku, query)
    else:
        page, last = key_page(index, shown, query)
    in_category = tier & subtree if subtree is not None else tier
    return IndexAnswer(
        total=shown.bit_count(),
        page=page,
        next=last,
        categories=_category_counts(index, matched),
        options=_option_counts(index, query, in_category),
    )
