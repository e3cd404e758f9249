"""What a search asks of the in-process index, and what it answers (mem_search)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "Bucket",
    "IndexAnswer",
    "IndexCursor",
    "IndexQuery",
    "IndexSort",
    "KeyCursor",
    "TextCounts",
    "WordForms",
]


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
    NAME = "name"  # only where the database orders names by code point


# A relevance bucket: (not the exact SKU, typos, minus the words in the name, minus
# those in the category's name); ascending is best first.
Bucket = tuple[bool, int, int, int]
# (key, id) of the last product of a page of a sort other than relevance: its
# created_at (newest), price or name, as PostgreSQL's cursors carry them.
KeyCursor = tuple[Any, uuid.UUID]


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


@dataclass
class TextCounts:
    """Bit-sliced counters (see mem_bitmaps), per product: the words it has, their
    typos, the words in its name and in its category's name; and the query's words."""

    words: list[int]
    typos: list[int]
    in_name: list[int]
    in_category: list[int]
    count: int
