"""The search port: what the listing route needs of any backend."""

from __future__ import annotations

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


@dataclass
class SearchPage:
    """One page of results. ``total`` counts the whole result set; ``facets`` are
    computed over the result set *without* the category filter, so a client can
    offer the other categories next to the chosen one."""

    products: list[Product]
    total: int
    next_cursor: str | None
    facets: list[CategoryFacet] = field(default_factory=list)


class SearchBackend(Protocol):
    async def search(self, session: AsyncSession, query: ProductQuery) -> SearchPage:
        """A page of products, in the query's order, loaded in ``session``.
        Raises :class:`shop.kit.pagination.InvalidCursorError` on a bad cursor."""
        ...

    async def aclose(self) -> None:
        """Releases what the backend holds (connections); called at shutdown."""
        ...
