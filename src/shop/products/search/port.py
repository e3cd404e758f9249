"""The search port: what the listing route needs of any backend."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shop.products.models import Product
from shop.products.search.query import ProductQuery


@dataclass(frozen=True)
class CategoryFacet:
    """Products of the result set in a category, its subcategories included (so a
    facet's count is the ``total`` one gets by filtering on it)."""

    slug: str
    count: int


@dataclass(frozen=True)
class OptionValueCount:
    """Products of the result set that have an active variant with this value, counted
    as if it were asked instead of the option's own filter (the other filters stay):
    a facet's count is the ``total`` one gets by choosing it."""

    value: str
    count: int


OptionFacets = dict[str, list[OptionValueCount]]  # option name -> its values
# (name, value) pairs in the option facets of one answer, those with most products first.
MAX_OPTION_FACETS = 1000


def option_facets(rows: Iterable[tuple[str, str, int]]) -> OptionFacets:
    """``(name, value, count)`` as facets: by name, each name's values by count then
    value; at most :data:`MAX_OPTION_FACETS` pairs, those with the most products."""
    ranked = sorted((row for row in rows if row[2] > 0), key=lambda r: (-r[2], r[0], r[1]))
    facets: dict[str, list[OptionValueCount]] = defaultdict(list)
    for name, value, count in ranked[:MAX_OPTION_FACETS]:
        facets[name].append(OptionValueCount(value=value, count=count))
    return dict(sorted(facets.items()))


class ViewShelf(Protocol):
    """Product views (the API's JSON of one product) a backend keeps as fresh as its
    answers (shop.products.search.mem_views)."""

    def get(self, product_id: uuid.UUID) -> bytes | None: ...

    async def versions(
        self, session: AsyncSession, product_ids: Iterable[uuid.UUID]
    ) -> Mapping[uuid.UUID, str]:
        """The products' versions now, read before their views are."""
        ...

    def keep(self, product_id: uuid.UUID, version: str | None, view: bytes) -> None:
        """Keeps ``view``, read after ``version`` was, if it is still current."""
        ...


@dataclass(frozen=True)
class KeptPage:
    """A page's products by id, in order, whose views ``shelf`` keeps (some of them)."""

    ids: list[uuid.UUID]
    shelf: ViewShelf


@dataclass
class SearchPage:
    """One page of results. ``total`` counts the whole result set; ``facets`` are
    computed over the result set *without* the category filter, so a client can
    offer the other categories next to the chosen one. The products: their rows
    (``products``), or with ``kept`` their ids and views where the backend keeps them
    (the rows of the others are the caller's to read)."""

    products: list[Product]
    total: int
    next_cursor: str | None
    facets: list[CategoryFacet] = field(default_factory=list)
    option_facets: OptionFacets = field(default_factory=dict)
    kept: KeptPage | None = None


class SearchBackend(Protocol):
    async def search(self, session: AsyncSession, query: ProductQuery) -> SearchPage:
        """A page of products, in the query's order, loaded in ``session``.
        Raises :class:`shop.kit.pagination.InvalidCursorError` on a bad cursor."""
        ...

    async def aclose(self) -> None:
        """Releases what the backend holds (connections); called at shutdown."""
        ...
