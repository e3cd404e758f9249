"""The in-process index answers as the rules of docs/search.md say: held to a plain,
product-by-product reading of them on catalogs hypothesis draws."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shop.products.search import mem_pages
from shop.products.search.mem_bitmaps import Postings, bitmap, highest, positions
from shop.products.search.mem_index import (
    CatalogIndex,
    IndexedCategory,
    IndexedProduct,
    IndexedVariant,
)
from shop.products.search.mem_orders import BLOCK, KeyOrder
from shop.products.search.mem_pages import SORT_DIRECTLY
from shop.products.search.mem_query import IndexQuery, IndexSort, WordForms
from shop.products.search.mem_search import answer

LEXEMES = ["lamp", "lampshad", "desk", "wireless", "speaker", "red", "oak"]
CATEGORIES = {
    uuid.UUID(int=n): IndexedCategory(path=path, slug=path.rsplit("/", 1)[-1])
    for n, path in enumerate(["home", "home/lighting", "home/office", "audio"], start=1)
}
OPTIONS = {"Size": ["S", "M"], "Colour": ["Red", "Blue"]}
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def pair(name: str, value: str) -> str:
    return json.dumps([name, value], ensure_ascii=False)


variants = st.builds(
    IndexedVariant,
    price=st.sampled_from([1000, 2000, 3000]),
    pairs=st.sets(
        st.sampled_from([pair(n, v) for n, vs in OPTIONS.items() for v in vs]), max_size=2
    ),
    stocked=st.booleans(),
)


@st.composite
def products(draw: st.DrawFn) -> list[IndexedProduct]:
    count = draw(st.integers(0, 24))
    found = []
    for n in range(count):
        lexemes = draw(
            st.dictionaries(st.sampled_from(LEXEMES), st.sampled_from(["A", "B", "C", "AC", "BC"]))
        )
        active = tuple(draw(st.lists(variants, min_size=1, max_size=3)))
        found.append(
            IndexedProduct(
                id=uuid.UUID(int=1000 + n),
                created_at=EPOCH + timedelta(minutes=draw(st.integers(0, 5))),
                category_id=draw(st.sampled_from([*CATEGORIES, None])),
                lexemes=lexemes,
                variants=active,
                price=min(variant.price for variant in active),
                name=draw(st.sampled_from(["Lamp", "desk", "Desk", "Éclair", "_oak"])),
            )
        )
    return found


words = st.builds(
    WordForms,
    typed=st.lists(st.sampled_from(LEXEMES), max_size=2).map(tuple),
    prefixes=st.lists(st.sampled_from(["lamp", "spe"]), max_size=2).map(tuple),
    corrections=st.dictionaries(
        st.integers(1, 2), st.lists(st.sampled_from(LEXEMES), min_size=1, max_size=2).map(tuple)
    ),
)
queries = st.builds(
    IndexQuery,
    words=st.lists(words, min_size=1, max_size=3).map(tuple),
    limit=st.integers(1, 30),
    sort=st.sampled_from(IndexSort),
    subtree=st.none() | st.sampled_from(list(CATEGORIES)).map(lambda root: subtree_of(root)),
    in_stock=st.none() | st.booleans(),
    options=st.dictionaries(
        st.sampled_from(list(OPTIONS)),
        st.lists(st.sampled_from(["S", "M", "Red", "Blue"]), min_size=1, max_size=2).map(
            lambda values: tuple(sorted(set(values)))
        ),
        max_size=2,
    ),
    sku_products=st.frozensets(
        st.sampled_from([uuid.UUID(int=1000 + n) for n in range(4)]), max_size=1
    ),
)


def subtree_of(root: uuid.UUID) -> frozenset[uuid.UUID]:
    top = CATEGORIES[root].path
    return frozenset(
        category
        for category, facts in CATEGORIES.items()
        if facts.path == top or facts.path.startswith(top + "/")
    )


@dataclass
class Reading:
    """The rules read product by product."""

    catalog: list[IndexedProduct]  # in (created_at, id) order: their positions
    query: IndexQuery

    def level(self, product: IndexedProduct, word: WordForms) -> int | None:
        typed = set(word.typed)
        typed |= {x for x in LEXEMES for prefix in word.prefixes if x.startswith(prefix)}
        if typed & product.lexemes.keys():
            return 0
        for typos in sorted(word.corrections):
            if set(word.corrections[typos]) & product.lexemes.keys():
                return typos
        return None

    def forms(self, word: WordForms) -> set[str]:
        every = set(word.typed) | {f for fs in word.corrections.values() for f in fs}
        every |= {x for x in LEXEMES for prefix in word.prefixes if x.startswith(prefix)}
        return every

    def words(self, product: IndexedProduct) -> int:
        return sum(self.level(product, w) is not None for w in self.query.words)

    def passes(self, product: IndexedProduct, options: dict[str, tuple[str, ...]]) -> bool:
        chosen = [
            variant
            for variant in product.variants
            if all(
                any(pair(name, value) in variant.pairs for value in values)
                for name, values in options.items()
            )
        ]
        if self.query.in_stock is None:
            return bool(chosen)
        if self.query.in_stock:
            return any(v.stocked for v in chosen)
        return bool(chosen) and not any(v.stocked for v in chosen)

    def in_subtree(self, product: IndexedProduct, subtree: frozenset[uuid.UUID] | None) -> bool:
        return subtree is None or product.category_id in subtree

    def sku(self, product: IndexedProduct) -> bool:
        return product.id in self.query.sku_products

    def tier(self) -> list[IndexedProduct]:
        options = dict(self.query.options)
        filtered = [p for p in self.catalog if self.passes(p, options)]
        every = len(self.query.words)
        shown = every
        while shown and not any(self.words(p) == shown or self.sku(p) for p in filtered):
            shown -= 1
        return [p for p in self.catalog if (shown and self.words(p) == shown) or self.sku(p)]

    def key(self, position: int, product: IndexedProduct) -> tuple[Any, ...]:
        if self.query.sort is IndexSort.NEWEST:
            return (-position,)
        if self.query.sort is IndexSort.PRICE_ASC:
            return (product.price, product.id)
        if self.query.sort is IndexSort.PRICE_DESC:
            return (-product.price, -product.id.int)
        if self.query.sort is IndexSort.NAME:
            return (product.name, product.id)
        typos = sum(self.level(product, w) or 0 for w in self.query.words)
        in_name, in_category = (
            sum(
                any(weight in product.lexemes.get(f, "") for f in self.forms(w))
                for w in self.query.words
            )
            for weight in "AB"
        )
        return (-int(self.sku(product)), typos, -in_name, -in_category, -position)


# The price and name sorts: their orders in blocks of 2, every page found block by
# block (nothing sorted directly), as well as the defaults (these catalogs are small:
# sorted directly).
@pytest.mark.parametrize("block", [BLOCK, 2], ids=["sorted", "in-blocks"])
@given(catalog=products(), query=queries)
@settings(max_examples=300, deadline=None)
def test_answers_as_the_rules_read_product_by_product(
    block: int, catalog: list[IndexedProduct], query: IndexQuery
) -> None:
    with patch.object(mem_pages, "SORT_DIRECTLY", SORT_DIRECTLY if block == BLOCK else 0):
        answers_as_the_rules_read(CatalogIndex.of(CATEGORIES, catalog, block=block), catalog, query)


def answers_as_the_rules_read(
    index: CatalogIndex, catalog: list[IndexedProduct], query: IndexQuery
) -> None:
    ordered = sorted(catalog, key=lambda p: (p.created_at, p.id))
    reading = Reading(ordered, query)

    got = answer(index, query)

    options = dict(query.options)
    tier = reading.tier()
    matched = [p for p in tier if reading.passes(p, options)]
    shown = [p for p in matched if reading.in_subtree(p, query.subtree)]
    position = {p.id: i for i, p in enumerate(ordered)}
    ranked = sorted(shown, key=lambda p: reading.key(position[p.id], p))
    assert got.total == len(shown)
    assert got.page == [p.id for p in ranked[: query.limit]]
    expected_categories = {
        root: n
        for root in CATEGORIES
        if (n := sum(reading.in_subtree(p, subtree_of(root)) for p in matched))
    }
    assert got.categories == expected_categories
    in_category = [p for p in tier if reading.in_subtree(p, query.subtree)]
    expected_options = {}
    for name, values in OPTIONS.items():
        for value in values:
            asked = {**options, name: (value,)}
            if n := sum(reading.passes(p, asked) for p in in_category):
                expected_options[pair(name, value)] = n
    assert got.options == expected_options

    # Page after page, the cursors walk the same ranking to its end.
    walked, page = [], got
    while page.next is not None:
        walked += page.page
        page = answer(index, replace(query, after=page.next))
    assert [*walked, *page.page] == [p.id for p in ranked]


def lamp_at(minute: int) -> IndexedProduct:
    """A lamp created ``minute`` minutes after the epoch (its id the minute too)."""
    return IndexedProduct(
        id=uuid.UUID(int=minute),
        created_at=EPOCH + timedelta(minutes=minute),
        category_id=None,
        lexemes={"lamp": "A"},
        variants=(IndexedVariant(f"LAMP-{minute}", 1000, frozenset(), stocked=True),),
        price=1000,
        name="Lamp",
    )


def test_a_product_put_again_keeps_its_place_and_a_removed_one_is_gone() -> None:
    first, second = lamp_at(1), lamp_at(2)
    index = CatalogIndex.of(CATEGORIES, [second, first])
    lamp = IndexQuery(words=(WordForms(typed=("lamp",)),), limit=10)
    assert answer(index, lamp).page == [second.id, first.id]

    index.put(
        IndexedProduct(
            first.id, first.created_at, None, {"desk": "C"}, first.variants, 1000, "Desk"
        )
    )
    assert answer(index, lamp).page == [second.id]
    index.remove(second.id)
    assert answer(index, lamp).total == 0
    desk = IndexQuery(words=(WordForms(typed=("desk",)),), limit=10)
    assert answer(index, desk).page == [first.id]


def test_a_product_older_than_the_newest_moves_the_newer_ones_after_it() -> None:
    index = CatalogIndex.of(CATEGORIES, [lamp_at(1), lamp_at(3), lamp_at(5)])
    lamp = IndexQuery(words=(WordForms(typed=("lamp",)),), limit=2)
    first = answer(index, lamp)
    assert first.page == [uuid.UUID(int=5), uuid.UUID(int=3)]
    # Committed late: minute 2 and 4 arrive after minute 5 was placed.
    index.extend([lamp_at(4), lamp_at(2)])
    assert answer(index, replace(lamp, limit=10)).page == [
        uuid.UUID(int=minute) for minute in (5, 4, 3, 2, 1)
    ]
    # A cursor from before goes on after its product, wherever it now is.
    assert answer(index, replace(lamp, after=first.next)).page == [
        uuid.UUID(int=2),
        uuid.UUID(int=1),
    ]


@given(st.sets(st.integers(0, 5000)))
def test_postings_hold_the_same_set_sparse_or_dense(found: set[int]) -> None:
    postings = Postings()
    for position in sorted(found):
        postings.add(position, 5001)
    assert postings.bits() == bitmap(found)
    assert list(positions(postings.bits())) == sorted(found)
    assert highest(postings.bits(), 3) == sorted(found, reverse=True)[:3]
    for position in sorted(found)[::2]:
        postings.discard(position)
    assert list(positions(postings.bits())) == sorted(found)[1::2]
    assert len(postings) == len(sorted(found)[1::2])


keys = st.tuples(st.integers(0, 6), st.integers(0, 40).map(lambda n: uuid.UUID(int=n)))


@given(
    entries=st.lists(keys, unique_by=lambda key: key[1], max_size=40),
    removed=st.sets(st.integers(0, 39)),
    shown=st.sets(st.integers(0, 39)),
    wanted=st.integers(1, 12),
    after=st.none() | keys,
    descending=st.booleans(),
    in_bulk=st.booleans(),
    block=st.integers(1, 5),
)
def test_a_key_order_finds_the_first_of_a_set_as_sorting_it_does(
    entries: list[tuple[int, uuid.UUID]],
    removed: set[int],
    shown: set[int],
    wanted: int,
    after: tuple[int, uuid.UUID] | None,
    descending: bool,
    in_bulk: bool,
    block: int,
) -> None:
    order = KeyOrder(block)
    placed = [(price, product_id, position) for position, (price, product_id) in enumerate(entries)]
    if in_bulk:
        order.add_many(list(placed))
    else:
        for entry in placed:
            order.add(entry)
    for entry in placed:
        if entry[2] in removed:
            order.remove(entry)
    live = [entry for entry in placed if entry[2] not in removed]
    assert order.entries == sorted(live)

    key_at = {position: (price, product_id) for price, product_id, position in placed}
    expected = [
        position
        for price, product_id, position in sorted(live, reverse=descending)
        if position in shown
        and (
            after is None
            or ((price, product_id) < after if descending else (price, product_id) > after)
        )
    ][:wanted]
    got = order.first(bitmap(shown), wanted, key_at.__getitem__, after=after, descending=descending)
    assert got == expected
