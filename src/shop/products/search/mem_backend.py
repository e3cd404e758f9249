"""PostgreSQL search with the in-process index (``SEARCH_IN_PROCESS_INDEX=true``).

A text search of the active catalog by relevance, age, price or name (where the
database's collation orders names by code point), without a price filter, is
answered from the process's :class:`~shop.products.search.mem_index.CatalogIndex`:
the words looked up in the process (the vocabulary's corrections and completions, as
PostgreSQL search does: mem_words; a round trip only for words no search met
before, whose lexemes the process then keeps), then set operations; the page's
products as the API shows them are kept too (mem_views), and the caller reads those
it lacks. Everything
else, and option filters that leave too many products to check one by one, goes to
:class:`PostgresSearch`, whose answers the index's agree with (docs/search.md, "The
in-process index").
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from shop.products.models import ProductStatus
from shop.products.search.cursor import (
    decode_index_cursor,
    decode_page_cursor,
    encode_index_cursor,
    encode_page_cursor,
    is_index_cursor,
)
from shop.products.search.mem_index import IndexedCategory
from shop.products.search.mem_keeper import IndexKeeper
from shop.products.search.mem_loader import Lexicon
from shop.products.search.mem_query import (
    IndexAnswer,
    IndexCursor,
    IndexQuery,
    IndexSort,
    KeyCursor,
)
from shop.products.search.mem_search import TooBroad, answer
from shop.products.search.mem_words import words_of
from shop.products.search.pg_variants import read_option_pair
from shop.products.search.port import CategoryFacet, KeptPage, SearchPage, option_facets
from shop.products.search.postgres import PostgresSearch
from shop.products.search.query import ProductQuery, SortOrder

__all__ = ["IndexedSearch"]

# The sorts the index answers: name only where the database orders names as Python
# does (mem_loader's collation probe).
SORTS = {
    SortOrder.RELEVANCE: IndexSort.RELEVANCE,
    SortOrder.NEWEST: IndexSort.NEWEST,
    SortOrder.PRICE_ASC: IndexSort.PRICE_ASC,
    SortOrder.PRICE_DESC: IndexSort.PRICE_DESC,
    SortOrder.NAME: IndexSort.NAME,
}


class IndexedSearch:
    """The index for what it answers, :class:`PostgresSearch` for the rest."""

    def __init__(self, keeper: IndexKeeper, *, follow_seconds: float) -> None:
        self.keeper = keeper
        self.postgres = PostgresSearch()
        self.follow_seconds = follow_seconds
        self.lexicon = Lexicon()
        self._stop = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Loads the catalog, then follows its changes in the background."""
        await self.keeper.load()
        self._follower = asyncio.create_task(
            self.keeper.follow(self._stop, self.follow_seconds), name="search-index"
        )

    async def aclose(self) -> None:
        self._stop.set()
        if self._follower is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._follower, 5)

    def answers(self, query: ProductQuery) -> bool:
        """Whether the index answers ``query``."""
        sort = query.effective_sort
        index = self.keeper.index
        by_name = index is not None and index.names_in_code_point_order
        return (
            bool(query.words)
            and sort in SORTS
            and (sort is not SortOrder.NAME or by_name)
            and query.min_price is None
            and query.max_price is None
            and query.status is ProductStatus.ACTIVE
            # Relevance cursors: the index's own. The other sorts': PostgreSQL's.
            and (
                query.cursor is None
                or sort is not SortOrder.RELEVANCE
                or is_index_cursor(query.cursor)
            )
        )

    async def search(self, session: AsyncSession, query: ProductQuery) -> SearchPage:
        if not self.answers(query):
            return await self.postgres.search(session, query)
        sort = query.effective_sort
        after: IndexCursor | KeyCursor | None = None
        if query.cursor and sort is SortOrder.RELEVANCE:
            after = decode_index_cursor(query.cursor)
        elif query.cursor:
            after = decode_page_cursor(query.cursor, sort)
        index = await self.keeper.fresh()
        # Read-only statements, if any (words no search met before): outside a
        # transaction without option filters. With them the index may send the search
        # to PostgreSQL (TooBroad), whose plan setting lives in a transaction.
        prepared, forms = await words_of(
            session,
            query,
            index,
            self.keeper.vocabulary,
            self.lexicon,
            outside_transaction=not query.options,
        )
        if not prepared.words:  # nothing searchable in q
            return SearchPage(products=[], total=0, next_cursor=None, facets=[])
        subtree = prepared.subtree
        asked = IndexQuery(
            words=forms,
            limit=query.limit,
            sort=SORTS[sort],
            subtree=frozenset(subtree) if subtree is not None else None,
            in_stock=query.in_stock,
            options=dict(query.options),
            sku_products=frozenset(prepared.sku_products),
            after=after,
        )
        try:
            got = answer(index, asked)
        except TooBroad:
            return await self.postgres.search(session, query)
        return self._page(index.categories, got, sort)

    def _page(
        self,
        categories: Mapping[uuid.UUID, IndexedCategory],
        got: IndexAnswer,
        sort: SortOrder,
    ) -> SearchPage:
        next_cursor = None
        if isinstance(got.next, IndexCursor):
            next_cursor = encode_index_cursor(got.next)
        elif got.next is not None:
            next_cursor = encode_page_cursor(sort, *got.next)
        facets = sorted(
            (
                CategoryFacet(slug=categories[category].slug, count=count)
                for category, count in got.categories.items()
                if category in categories
            ),
            key=lambda facet: (-facet.count, facet.slug),
        )
        return SearchPage(
            products=[],
            kept=KeptPage(ids=list(got.page), shelf=self.keeper.views),
            total=got.total,
            next_cursor=next_cursor,
            facets=facets,
            option_facets=option_facets(
                (*read_option_pair(pair), count) for pair, count in got.options.items()
            ),
        )
