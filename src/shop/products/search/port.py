"""The search port: what the listing route needs of any backend."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
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


@dataclass
class SearchPage:
    """One page of results. ``total`` counts the whole result set; ``facets`` are
    computed over the result set *without* the category filter, so a client can
    offer the other categories next to the chosen one."""

    products: list[Product]
    total: int
    next_cursor: str | None
    facets: list[CategoryFacet] = field(default_factory=list)
    option_facets: OptionFacets = field(default_factory=dict)


class SearchBackend(Protocol):
    async def search(self, session: AsyncSession, query: ProductQuery) -> SearchPage:
        """A page of products, in the query's order, loaded in ``session``.
        Raises :class:`shop.kit.pagination.InvalidCursorError` on a bad cursor."""
        ...

    async def aclose(self) -> None:
        """Releases what the backend holds (connections); called at shutdown."""
        ...
