"""Search in PostgreSQL: full text, trigrams, keyset pages and facets.

Matching and ranking: see :mod:`shop.products.search.pg_text` (words corrected
against the vocabulary table, then one full-text query by the GIN index; every word
if any product has them all, else the most words).

Pages. Keyset pagination on the sort key and the id, never OFFSET: a cursor
names the last product seen, so rows inserted or deleted meanwhile neither
repeat nor hide the products after it.

Counts. ``total`` and the category facets come from the result set without the
category filter, counted by category and rolled up the category tree (every
category counts its subtree, so a facet's count is the total of filtering on it);
above 10,000 results a listing estimates them from a fixed sample: see
:mod:`shop.products.search.pg_counts`. Option facets, and what option, price and
stock filters ask of the variants: see :mod:`shop.products.search.pg_variants`.

Plans. A text search finds its matches once (the GIN index) and takes the page and
the counts from them in one statement; the products that match only some words are
looked for only when none matches them all. A listing without text counts by an
index-only scan and walks the index of its sort order for the page, unless the
filters leave few products (``NARROW_RESULT_SET``): then it sorts those.

Everything a client sends is a bound parameter.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    Subquery,
    cast,
    exists,
    false,
    func,
    literal,
    null,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import BigInteger, Text, Uuid

from shop.products.models import Product
from shop.products.repositories import ProductRepository
from shop.products.search.cursor import decode_page_cursor, encode_page_cursor
from shop.products.search.pg_counts import (
    SAMPLE_RATIO,
    category_facets,
    in_sample,
    listing_counts,
    total_of,
)
from shop.products.search.pg_prepare import prepare
from shop.products.search.pg_text import TextMatch, text_match
from shop.products.search.pg_variants import VariantFilter, read_option_pair
from shop.products.search.port import OptionFacets, SearchPage, option_facets
from shop.products.search.query import ProductQuery, SortOrder

# Up to this many results (of a filtered listing), a page is sorted from all of them.
NARROW_RESULT_SET = 10_000
# What the option facets need of each product of the result set (pg_variants).
FACET_COLUMNS = ("price", "max_price", "option_pairs", "stocked_pairs")

DESCENDING = {SortOrder.RELEVANCE, SortOrder.PRICE_DESC, SortOrder.NEWEST}


@dataclass
class _Plan:
    """A search, translated: what to match, and how to order it."""

    query: ProductQuery
    sort: SortOrder
    after: tuple[Any, uuid.UUID] | None
    filters: list[ColumnElement[bool]]  # on the products row: status, maximum price
    variants: VariantFilter  # options, price range, stock: on the variants
    subtree: list[uuid.UUID] | None  # the category filter: None without one
    key: ColumnElement[Any] | None  # the sort key (None: relevance, see _match_once)
    text: TextMatch | None = None

    def variants_match(self, *, by_key: bool) -> ColumnElement[bool]:
        """The product has a variant that matches (true when nothing is asked of them)."""
        return (
            self.variants.matches(Product.id.expression, by_key=by_key)
            if self.variants.needed
            else true()
        )

    @property
    def listing_filters(self) -> list[ColumnElement[bool]]:
        """All but the category's, for a listing without text."""
        if not self.variants.needed:
            return self.filters
        return [*self.filters, self.variants_match(by_key=False)]

    @property
    def descending(self) -> bool:
        return self.sort in DESCENDING

    def in_category(self, category_id: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.subtree is None:
            return true()
        return category_id.in_(self.subtree) if self.subtree else false()

    def after_cursor(self, key: ColumnElement[Any], id_: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.after is None:
            return true()
        position, boundary = tuple_(key, id_), tuple_(*self.after)
        return position < boundary if self.descending else position > boundary

    def order(self, key: ColumnElement[Any], id_: ColumnElement[Any]) -> list[Any]:
        if self.descending:
            return [key.desc(), id_.desc()]
        return [key.asc(), id_.asc()]


class PostgresSearch:
    """The default backend (``SEARCH_BACKEND=postgres``)."""

    async def aclose(self) -> None:
        return None

    async def search(self, session: AsyncSession, query: ProductQuery) -> SearchPage:
        sort = query.effective_sort
        after = decode_page_cursor(query.cursor, sort) if query.cursor else None
        prepared = await prepare(session, query)
        words, subtree, found = prepared.words, prepared.subtree, prepared.found
        sku_products = prepared.sku_products
        if query.q is not None and not words:  # nothing searchable in q: punctuation ...
            return SearchPage(products=[], total=0, next_cursor=None, facets=[])

        text = text_match(words, found, query.q or "", sku_products) if words else None
        key = None if sort is SortOrder.RELEVANCE else self._sort_key(sort)
        variants = VariantFilter.of(query)
        plan = _Plan(query, sort, after, self._filters(query), variants, subtree, key, text)

        if text is not None:
            rows, counts, options = await self._match_once(session, plan, text)
            total = total_of(subtree, counts)
        else:
            counts, total, estimated = await listing_counts(session, plan.listing_filters, subtree)
            rows = await self._walk(session, plan, total) if total else []
            options = await self._option_facets(session, plan, sampled=estimated)
        facets = await category_facets(session, counts)

        next_cursor = None
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            next_cursor = encode_page_cursor(sort, rows[-1].sort_key, rows[-1].id)
        products = await self._load(session, [row.id for row in rows])
        return SearchPage(
            products=products,
            total=total,
            next_cursor=next_cursor,
            facets=facets,
            option_facets=options,
        )

    # --- matching ---------------------------------------------------------------------

    def _filters(self, query: ProductQuery) -> list[ColumnElement[bool]]:
        """What the products row says: the status, and the maximum price (the row's
        price is the lowest active variant's: exact alone, and a cut of the candidates
        by its index before the variants are looked at with a minimum or options)."""
        filters: list[ColumnElement[bool]] = [Product.status == query.status]
        if query.max_price is not None:
            filters.append(Product.price <= query.max_price)
        return filters

    def _sort_key(self, sort: SortOrder) -> ColumnElement[Any]:
        columns: dict[SortOrder, ColumnElement[Any]] = {
            SortOrder.PRICE_ASC: Product.price.expression,
            SortOrder.PRICE_DESC: Product.price.expression,
            SortOrder.NEWEST: Product.created_at.expression,
            SortOrder.NAME: Product.name.expression,
        }
        return columns[sort]

    # --- a text search: one pass ------------------------------------------------------

    async def _match_once(
        self, session: AsyncSession, plan: _Plan, text: TextMatch
    ) -> tuple[list[Any], dict[uuid.UUID | None, int], OptionFacets]:
        """The page, the counts by category and the option facets from one scan of the
        matches: those of every word, or if there are none (and only then: a one-time
        filter), those of the most words. The matches carry whether a variant matches
        (``chosen``): the option facets count the matches without the option filters."""

        def key(*, every_word: bool) -> ColumnElement[Any]:
            return plan.key if plan.key is not None else text.score(every_word=every_word)

        chosen = plan.variants_match(by_key=True).label("chosen")
        facet_columns = [getattr(Product, name).label(name) for name in FACET_COLUMNS]
        every = (
            select(
                Product.id.label("id"),
                Product.category_id.label("category_id"),
                key(every_word=True).label("sort_key"),
                chosen,
                *facet_columns,
            )
            .where(text.every_word(), *plan.filters)
            .cte("every_word")
            .prefix_with("MATERIALIZED")
        )
        matched: CTE = every
        if len(text.words) > 1:
            some = (
                select(
                    Product.id.label("id"),
                    Product.category_id.label("category_id"),
                    key(every_word=False).label("sort_key"),
                    text.words_matched().label("words"),
                    chosen,
                    *facet_columns,
                )
                .where(
                    ~exists(select(every.c.id).where(every.c.chosen)),
                    text.some_word(),
                    *plan.filters,
                )
                .cte("some_words")
                .prefix_with("MATERIALIZED")
            )
            most = select(func.max(some.c.words)).where(some.c.chosen).scalar_subquery()
            shared = ("id", "category_id", "sort_key", "chosen", *FACET_COLUMNS)
            matched = union_all(
                select(*(every.c[name] for name in shared)),
                select(*(some.c[name] for name in shared)).where(some.c.words == most),
            ).cte("matched")
        sort_type = matched.c.sort_key.type
        order = plan.order(matched.c.sort_key, matched.c.id)
        page = (
            select(
                matched.c.id,
                matched.c.sort_key,
                func.row_number().over(order_by=order).label("position"),
            )
            .where(
                matched.c.chosen,
                plan.in_category(matched.c.category_id),
                plan.after_cursor(matched.c.sort_key, matched.c.id),
            )
            .order_by(*order)
            .limit(plan.query.limit + 1)
            .subquery("page")
        )
        counts = (
            select(matched.c.category_id, func.count().label("n"))
            .where(matched.c.chosen)
            .group_by(matched.c.category_id)
            .subquery("counts")
        )
        in_category = select(matched.c.id, *(matched.c[name] for name in FACET_COLUMNS)).where(
            plan.in_category(matched.c.category_id)
        )
        options = plan.variants.option_counts(in_category.subquery("in_category")).subquery(
            "options"
        )
        text_null, uuid_null, int_null = (
            cast(null(), Text),
            cast(null(), Uuid),
            cast(null(), BigInteger),
        )
        both = union_all(
            select(
                literal("page").label("part"),
                page.c.id,
                page.c.sort_key,
                page.c.position,
                uuid_null.label("category_id"),
                int_null.label("n"),
                text_null.label("option_pair"),
            ),
            select(
                literal("counts"),
                uuid_null,
                cast(null(), sort_type),
                int_null,
                counts.c.category_id,
                counts.c.n,
                text_null,
            ),
            select(
                literal("options"),
                uuid_null,
                cast(null(), sort_type),
                int_null,
                uuid_null,
                options.c[1],
                options.c[0],
            ),
        )
        result = (await session.execute(both)).all()
        rows = sorted((r for r in result if r.part == "page"), key=lambda r: r.position)
        counted = {r.category_id: r.n for r in result if r.part == "counts"}
        values = _option_facets((r.option_pair, r.n) for r in result if r.part == "options")
        return rows, counted, values

    # --- a listing: counts, then the page ---------------------------------------------

    async def _option_facets(
        self, session: AsyncSession, plan: _Plan, *, sampled: bool
    ) -> OptionFacets:
        """Option facets of a listing: the variants of its products without the option
        filters (see pg_variants), category filter included; estimated from the sample
        when the total is (pg_counts)."""
        columns = [getattr(Product, name).label(name) for name in FACET_COLUMNS]
        where = [*plan.filters, plan.in_category(Product.category_id.expression)]
        if sampled:
            where.append(in_sample())
        products = select(Product.id, *columns).where(*where)
        counted = await session.execute(plan.variants.option_counts(products.subquery("listed")))
        ratio = SAMPLE_RATIO if sampled else 1
        return _option_facets((pair, n * ratio) for pair, n in counted)

    async def _walk(self, session: AsyncSession, plan: _Plan, total: int) -> list[Any]:
        assert plan.key is not None  # a listing without text never sorts by relevance
        filters = plan.listing_filters
        matches: Select[Any] = select(Product.id.label("id"), plan.key.label("sort_key")).where(
            *filters, plan.in_category(Product.category_id.expression)
        )
        # Few matches among many products (filters beyond status): find them all, then
        # sort. Walking the sort order's index would pass over every non-match.
        narrow = len(filters) > 1 or plan.subtree is not None
        ranked: CTE | Subquery
        if narrow and total <= NARROW_RESULT_SET:
            ranked = matches.cte("ranked").prefix_with("MATERIALIZED")
        else:
            ranked = matches.subquery("ranked")
        query = (
            select(ranked.c.id, ranked.c.sort_key)
            .where(plan.after_cursor(ranked.c.sort_key, ranked.c.id))
            .order_by(*plan.order(ranked.c.sort_key, ranked.c.id))
            .limit(plan.query.limit + 1)
        )
        return list((await session.execute(query)).all())

    # --- products ---------------------------------------------------------------------

    async def _load(self, session: AsyncSession, ids: list[uuid.UUID]) -> list[Product]:
        return await ProductRepository(session).in_order(ids)


def _option_facets(rows: Iterable[tuple[str, int]]) -> OptionFacets:
    """Facets from ``(pair, count)`` rows, a pair's rows added up (pg_variants counts
    some products by their row and others by their variants)."""
    counted: dict[str, int] = defaultdict(int)
    for pair, n in rows:
        counted[pair] += n
    return option_facets((*read_option_pair(pair), n) for pair, n in counted.items())
