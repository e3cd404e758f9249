"""The active catalog in the process, as bitmaps: what a search needs of it.

Each product has a position (its bit), given in the order products are put: a load
puts them in ``(created_at, id)`` order, so among equals the highest bit is the
newest. Per lexeme (as ``products.search_vector`` has it: all weights, and weight
A, the name and SKU), per leaf category, per option pair of an active variant (and
of one in stock), and for the products with units, a :class:`Postings` of
positions. A search (``shop.products.search.mem_search``) combines them.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from shop.products.search.mem_bitmaps import Postings

__all__ = ["CatalogIndex", "IndexedProduct", "IndexedVariant"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class IndexedVariant:
    """What filters ask of an active variant."""

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


class CatalogIndex:
    """The active products, their words and facets as sets of positions."""

    def __init__(self, category_paths: Mapping[uuid.UUID, str]) -> None:
        self._paths = dict(category_paths)
        self._products: list[IndexedProduct | None] = []
        self._at: dict[uuid.UUID, int] = {}
        self.anywhere: dict[str, Postings] = {}
        self.in_name: dict[str, Postings] = {}
        self.leaf: dict[uuid.UUID | None, Postings] = {}
        self.pairs: dict[str, Postings] = {}
        self.stocked_pairs: dict[str, Postings] = {}
        self.stocked = Postings()
        self._live = Postings()
        self._lexemes_sorted: list[str] | None = None

    @classmethod
    def of(
        cls, category_paths: Mapping[uuid.UUID, str], products: Iterable[IndexedProduct]
    ) -> CatalogIndex:
        """An index of ``products``, positioned in ``(created_at, id)`` order."""
        index = cls(category_paths)
        for product in sorted(products, key=lambda p: (p.created_at, p.id)):
            index.put(product)
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

    def put(self, product: IndexedProduct) -> None:
        """Adds ``product``, or replaces the one with its id (which keeps its place)."""
        position = self._at.get(product.id)
        if position is None:
            position = len(self._products)
            self._products.append(product)
            self._at[product.id] = position
        else:
            self._unset(position)
            self._products[position] = product
        size = len(self._products)
        for lexeme, weights in product.lexemes.items():
            self._postings(self.anywhere, lexeme).add(position, size)
            if "A" in weights:
                self._postings(self.in_name, lexeme).add(position, size)
        self._postings(self.leaf, product.category_id).add(position, size)
        for pair in product.pairs():
            self._postings(self.pairs, pair).add(position, size)
        for pair in product.pairs(stocked_only=True):
            self._postings(self.stocked_pairs, pair).add(position, size)
        if product.stocked:
            self.stocked.add(position, size)
        self._live.add(position, size)

    def remove(self, product_id: uuid.UUID) -> None:
        """Takes the product out (archived, drafted, deleted); its position stays empty."""
        position = self._at.pop(product_id, None)
        if position is not None:
            self._unset(position)
            self._products[position] = None

    def category_paths(self) -> Mapping[uuid.UUID, str]:
        return self._paths

    def set_categories(self, category_paths: Mapping[uuid.UUID, str]) -> None:
        """The category tree changed (a category added, moved or removed)."""
        self._paths = dict(category_paths)

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
        self.leaf[product.category_id].discard(position)
        for pair in product.pairs():
            self.pairs[pair].discard(position)
            if pair in self.stocked_pairs:
                self.stocked_pairs[pair].discard(position)
        self.stocked.discard(position)
        self._live.discard(position)
