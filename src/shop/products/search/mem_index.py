"""The active catalog in the process, as bitmaps: what a search needs of it.

Each product has a position (its bit), always in ``(created_at, id)`` order, so
among equals the highest bit is the newest: a load puts them in that order, and a
product that arrives later than a newer one (its transaction committed late) moves
the newer ones after it (:meth:`CatalogIndex.extend`).

Per lexeme (as ``products.search_vector`` has it: all weights, weight A (the name
and SKU) and weight B (the category's name)), per leaf category, per option pair of
an active variant (and of one in stock), and for the products with units, a
:class:`Postings` of positions; and the live products in price and name order. A search
(``shop.products.search.mem_search``) combines them.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shop.products.search.mem_bitmaps import Postings
from shop.products.search.mem_orders import BLOCK, KeyOrder

__all__ = ["CatalogIndex", "IndexedCategory", "IndexedProduct", "IndexedVariant"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class IndexedCategory:
    path: str  # the slugs from the root, "/"-separated (as categories.path)
    slug: str


@dataclass(frozen=True, slots=True)
class IndexedVariant:
    """What filters ask of an active variant, and its SKU (the exact SKU's match)."""

    sku: str
    price: int
    pairs: frozenset[str]  # its option values, each the JSON pair '["Size", "M"]'
    stocked: bool  # units available


@dataclass(frozen=True, slots=True)
class IndexedProduct:
    id: uuid.UUID
    created_at: datetime
    category_id: uuid.UUID | None
    lexemes: Mapping[str, str]  # lexeme -> its weights in the vector ("A", "BC" ...)
    variants: tuple[IndexedVariant, ...]  # the active ones
    price: int  # the products row's: its lowest active variant's (the price sorts' key)
    name: str

    @property
    def stocked(self) -> bool:
        return any(variant.stocked for variant in self.variants)

    def pairs(self, *, stocked_only: bool = False) -> set[str]:
        return {
            pair
            for variant in self.variants
            if variant.stocked or not stocked_only
            for pair in variant.pairs
        }


def _key(product: IndexedProduct) -> tuple[datetime, uuid.UUID]:
    return (product.created_at, product.id)


class CatalogIndex:
    """The active products, their words and facets as sets of positions."""

    def __init__(
        self, categories: Mapping[uuid.UUID, IndexedCategory], *, block: int = BLOCK
    ) -> None:
        self.categories = dict(categories)
        self._products: list[IndexedProduct | None] = []
        # Each position's (created_at, id), kept when its product leaves: ascending.
        self._keys: list[tuple[datetime, uuid.UUID]] = []
        self._at: dict[uuid.UUID, int] = {}
        self.anywhere: dict[str, Postings] = {}
        self.in_name: dict[str, Postings] = {}
        self.in_category: dict[str, Postings] = {}
        self.leaf: dict[uuid.UUID | None, Postings] = {}
        self.pairs: dict[str, Postings] = {}
        self.stocked_pairs: dict[str, Postings] = {}
        self.stocked = Postings()
        self._live = Postings()
        # The live products by (price, id) and by (name, id): the price and name sorts.
        self.by_price = KeyOrder(block)
        self.by_name = KeyOrder(block)
        # Whether the database orders names as Python does (by code point): only then
        # does the index answer the name sort (mem_loader checks the collation).
        self.names_in_code_point_order = False
        self._lexemes_sorted: list[str] | None = None
        # The products of each active variant's SKU (one, but for a moment during a
        # catch-up that moves a SKU), and each category slug's subtree, made when asked.
        self._by_sku: dict[str, tuple[uuid.UUID, ...]] = {}
        self._subtrees: dict[str, frozenset[uuid.UUID]] = {}

    @classmethod
    def of(
        cls,
        categories: Mapping[uuid.UUID, IndexedCategory],
        products: Iterable[IndexedProduct],
        *,
        block: int = BLOCK,
    ) -> CatalogIndex:
        """An index of ``products``, positioned in ``(created_at, id)`` order."""
        index = cls(categories, block=block)
        index.extend(products)
        return index

    @property
    def size(self) -> int:
        """Positions given so far (the products removed keep theirs, empty)."""
        return len(self._products)

    def live(self) -> int:
        return self._live.bits()

    def product_at(self, position: int) -> IndexedProduct | None:
        return self._products[position]

    def position_of(self, product_id: uuid.UUID) -> int | None:
        return self._at.get(product_id)

    def with_sku(self, sku: str) -> set[uuid.UUID]:
        """The products of which an active variant has ``sku`` as its SKU."""
        return set(self._by_sku.get(sku, ()))

    def subtree(self, slug: str) -> frozenset[uuid.UUID]:
        """The category ``slug`` and those below it (none for an unknown slug), as
        pg_prepare finds them: by path."""
        found = self._subtrees.get(slug)
        if found is None:
            paths = [c.path for c in self.categories.values() if c.slug == slug]
            found = frozenset(
                category_id
                for category_id, category in self.categories.items()
                for path in paths
                if category.path == path or category.path.startswith(path + "/")
            )
            if found:  # kept for the slugs that exist only: any may be asked
                self._subtrees[slug] = found
        return found

    def older_than(self, key: tuple[datetime, uuid.UUID]) -> int:
        """How many positions hold products older than ``key`` (created_at, id): the
        positions below the returned one."""
        return bisect.bisect_left(self._keys, key)

    def extend(self, products: Iterable[IndexedProduct]) -> None:
        """Puts products the index does not have, keeping the positions in order: those
        newer than the oldest of them move after it (few: they arrived since it began)."""
        fresh = sorted(products, key=_key)
        if not fresh:
            return
        first = _key(fresh[0])
        moved: list[IndexedProduct] = []
        position = len(self._keys)
        while position and self._keys[position - 1] > first:
            position -= 1
            product = self._products[position]
            if product is not None:
                moved.append(product)
                self.remove(product.id)
        # The emptied places take the first one's key: the keys stay ascending.
        self._keys[position:] = [first] * (len(self._keys) - position)
        added = sorted([*fresh, *moved], key=_key)
        # Many at once (a load): the orders sorted once, not kept entry by entry.
        in_bulk = len(added) > 1_000
        pending: list[tuple[KeyOrder, tuple[Any, uuid.UUID, int]]] = []
        for product in added:
            self._place(product, keep_orders=not in_bulk)
            if in_bulk:
                pending += self._orders(product, self._at[product.id])
        for order in (self.by_price, self.by_name):
            order.add_many([entry for owner, entry in pending if owner is order])

    def put(self, product: IndexedProduct) -> None:
        """Replaces the product with ``product``'s id (which keeps its place), or adds it
        at the end (:meth:`extend` keeps the order: new products go through it)."""
        self._place(product, keep_orders=True)

    def _place(self, product: IndexedProduct, *, keep_orders: bool) -> None:
        position = self._at.get(product.id)
        if position is None:
            position = len(self._products)
            self._products.append(product)
            self._keys.append(_key(product))
            self._at[product.id] = position
        else:
            self._unset(position)
            self._products[position] = product
        size = len(self._products)
        for lexeme, weights in product.lexemes.items():
            self._postings(self.anywhere, lexeme).add(position, size)
            if "A" in weights:
                self._postings(self.in_name, lexeme).add(position, size)
            if "B" in weights:
                self._postings(self.in_category, lexeme).add(position, size)
        self._postings(self.leaf, product.category_id).add(position, size)
        for pair in product.pairs():
            self._postings(self.pairs, pair).add(position, size)
        for pair in product.pairs(stocked_only=True):
            self._postings(self.stocked_pairs, pair).add(position, size)
        if product.stocked:
            self.stocked.add(position, size)
        for variant in product.variants:
            self._by_sku[variant.sku] = (*self._by_sku.get(variant.sku, ()), product.id)
        self._live.add(position, size)
        if keep_orders:
            for order, entry in self._orders(product, position):
                order.add(entry)

    def remove(self, product_id: uuid.UUID) -> None:
        """Takes the product out (archived, drafted, deleted); its position stays empty."""
        position = self._at.pop(product_id, None)
        if position is not None:
            self._unset(position)
            self._products[position] = None

    def set_categories(self, categories: Mapping[uuid.UUID, IndexedCategory]) -> None:
        """The category tree changed (a category added, moved, renamed or removed)."""
        self.categories = dict(categories)
        self._subtrees.clear()

    def lexemes_from(self, prefix: str) -> list[str]:
        """The catalog's lexemes that begin with ``prefix``, in order."""
        if self._lexemes_sorted is None:
            self._lexemes_sorted = sorted(self.anywhere)
        found = []
        start = bisect.bisect_left(self._lexemes_sorted, prefix)
        for lexeme in self._lexemes_sorted[start:]:
            if not lexeme.startswith(prefix):
                break
            found.append(lexeme)
        return found

    def _postings(self, table: dict[K, Postings], key: K) -> Postings:
        postings = table.get(key)
        if postings is None:
            postings = table[key] = Postings()
            if table is self.anywhere:
                self._lexemes_sorted = None
        return postings

    def _unset(self, position: int) -> None:
        product = self._products[position]
        if product is None:
            return
        for lexeme in product.lexemes:
            self.anywhere[lexeme].discard(position)
            if lexeme in self.in_name:
                self.in_name[lexeme].discard(position)
            if lexeme in self.in_category:
                self.in_category[lexeme].discard(position)
        self.leaf[product.category_id].discard(position)
        for pair in product.pairs():
            self.pairs[pair].discard(position)
            if pair in self.stocked_pairs:
                self.stocked_pairs[pair].discard(position)
        self.stocked.discard(position)
        for variant in product.variants:
            others = tuple(p for p in self._by_sku.get(variant.sku, ()) if p != product.id)
            if others:
                self._by_sku[variant.sku] = others
            else:
                self._by_sku.pop(variant.sku, None)
        self._live.discard(position)
        for order, entry in self._orders(product, position):
            order.remove(entry)

    def _orders(
        self, product: IndexedProduct, position: int
    ) -> list[tuple[KeyOrder, tuple[Any, uuid.UUID, int]]]:
        """The sort orders and the product's entry in each."""
        return [
            (self.by_price, (product.price, product.id, position)),
            (self.by_name, (product.name, product.id, position)),
        ]
