"""Search in PostgreSQL: full text, trigrams, keyset pages and facets.

Matching. The query is cut into words (letters and digits only, see
:func:`~shop.products.search.query.search_words`). A product matches when
*every* word matches it, either through ``products.search_vector`` (a weighted
``tsvector`` kept by triggers: name and SKU A, category name B, description C,
all ``unaccent``-ed; words of three letters or more also match as prefixes) or,
for misspellings, through ``pg_trgm``'s word similarity to the unaccented name
(``WORD_SIMILARITY_THRESHOLD``). English stop words need not match. The exact
SKU always matches.

Ranking (``relevance``): ``ts_rank`` of the words over the vector, plus 1 when
the text has every word, else the word similarity of the query to the name (so
exact matches come before typo matches), plus a bonus for the exact SKU.

Pages. Keyset pagination on the sort key and the id, never OFFSET: a cursor
names the last product seen, so rows inserted or deleted meanwhile neither
repeat nor hide the products after it.

Counts. ``total`` and the category facets come from the result set without the
category filter, counted by category and rolled up the category tree (every
category counts its subtree, so a facet's count is the total of filtering on it).

Plans. A text search finds its matches once (GIN indexes) and takes the page and
the counts from them in one statement. A listing without text counts by an
index-only scan and walks the index of its sort order for the page, unless the
filters leave few products (``NARROW_RESULT_SET``): then it sorts those.

Everything a client sends is a bound parameter.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Select,
    Subquery,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import BigInteger, Uuid

from shop.products.models import Category, Inventory, Product
from shop.products.search.cursor import decode_page_cursor, encode_page_cursor
from shop.products.search.port import CategoryFacet, SearchPage
from shop.products.search.query import ProductQuery, SortOrder

# A misspelt word still matches a name whose most similar word is this similar (0..1):
# "headphnes" ~ "headphones" is 0.62, "wireles" ~ "wireless" 0.88.
WORD_SIMILARITY_THRESHOLD = 0.5
# Shorter words only match whole lexemes (prefixes of one or two letters match too much).
MIN_PREFIX_LENGTH = 3
EXACT_SKU_BONUS = 2.0
# Up to this many results (of a filtered listing), a page is sorted from all of them.
NARROW_RESULT_SET = 10_000

ENGLISH: ColumnElement[Any] = literal_column("'pg_catalog.english'::regconfig")
SIMPLE: ColumnElement[Any] = literal_column("'pg_catalog.simple'::regconfig")
DESCENDING = {SortOrder.RELEVANCE, SortOrder.PRICE_DESC, SortOrder.NEWEST}


def _unaccent(value: Any) -> ColumnElement[str]:
    return func.shop_unaccent(value)


def _word_tsquery(config: ColumnElement[Any], word: str) -> ColumnElement[Any]:
    # ``word`` is letters and digits only (search_words): no tsquery syntax can get in.
    suffix = ":*" if len(word) >= MIN_PREFIX_LENGTH else ""
    return func.to_tsquery(config, _unaccent(word).concat(suffix))


def _tsquery(word: str) -> ColumnElement[Any]:
    """The word as an English lexeme (stemmed) or as itself (SKUs, names)."""
    return _word_tsquery(ENGLISH, word).op("||")(_word_tsquery(SIMPLE, word))


def _name_trigrams() -> ColumnElement[str]:
    # Exactly the expression of the index ix_products_name_trgm.
    return _unaccent(Product.name)


@dataclass
class _Plan:
    """A search, translated: what to match, and how to order it."""

    query: ProductQuery
    sort: SortOrder
    after: tuple[Any, uuid.UUID] | None
    filters: list[ColumnElement[bool]]  # all but the category's
    subtree: list[uuid.UUID] | None  # the category filter: None without one
    key: ColumnElement[Any]  # the sort key

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
        words, subtree = await self._prepare(session, query)
        if query.q is not None and not words:  # nothing searchable in q: punctuation ...
            return SearchPage(products=[], total=0, next_cursor=None, facets=[])

        filters = self._filters(query, few_candidates=bool(words))
        score: ColumnElement[float] | None = None
        if words:
            text_match, score = self._text(query.q or "", words)
            filters.insert(0, text_match)
        plan = _Plan(query, sort, after, filters, subtree, self._sort_key(sort, score))

        if words:
            rows, counts = await self._match_once(session, plan)
            total = self._total(plan, counts)
        else:
            counts = await self._count(session, plan)
            total = self._total(plan, counts)
            rows = await self._walk(session, plan, total) if total else []
        facets = await self._facets(session, counts)

        next_cursor = None
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            next_cursor = encode_page_cursor(sort, rows[-1].sort_key, rows[-1].id)
        products = await self._load(session, [row.id for row in rows])
        return SearchPage(products=products, total=total, next_cursor=next_cursor, facets=facets)

    # --- matching ---------------------------------------------------------------------

    async def _prepare(
        self, session: AsyncSession, query: ProductQuery
    ) -> tuple[list[str], list[uuid.UUID] | None]:
        """One round trip before the searches: settings for this transaction, which
        words are English stop words, and the ids of the category subtree (None
        without a category filter, empty for an unknown category).

        Plans are made for the actual values (a rare word and a common one want
        different plans), and the trigram threshold is set."""
        columns: list[ColumnElement[Any]] = [
            func.set_config("plan_cache_mode", "force_custom_plan", True),
            func.set_config(
                "pg_trgm.word_similarity_threshold", str(WORD_SIMILARITY_THRESHOLD), True
            ),
        ]
        words = list(query.words)
        columns += [func.numnode(func.to_tsquery(ENGLISH, _unaccent(w))) > 0 for w in words]
        if query.category is not None:
            root = aliased(Category)
            subtree_ids = (
                select(func.array_agg(Category.id))
                .join(root, root.slug == query.category)
                .where(or_(Category.path == root.path, Category.path.startswith(root.path + "/")))
                .scalar_subquery()
            )
            columns.append(subtree_ids)
        row = (await session.execute(select(*columns))).one()
        meaningful = [w for w, keep in zip(words, row[2 : 2 + len(words)], strict=True) if keep]
        subtree: list[uuid.UUID] | None = None
        if query.category is not None:
            subtree = list(row[-1] or [])
        return meaningful or words, subtree

    def _text(
        self, text: str, words: Sequence[str]
    ) -> tuple[ColumnElement[bool], ColumnElement[float]]:
        per_word = [
            or_(
                Product.search_vector.op("@@")(_tsquery(word)),
                _name_trigrams().op("%>")(word),
            )
            for word in words
        ]
        exact_sku = Product.sku == text
        match = or_(and_(*per_word), exact_sku)

        any_word, every_word = _tsquery(words[0]), _tsquery(words[0])
        for word in words[1:]:
            any_word = any_word.op("||")(_tsquery(word))
            every_word = every_word.op("&&")(_tsquery(word))
        # Products whose text has every word rank above those found through a typo; the
        # similarity (the costly part) is computed for the latter only.
        closeness = case(
            (Product.search_vector.op("@@")(every_word), 1.0),
            else_=cast(func.word_similarity(" ".join(words), _name_trigrams()), Float),
        )
        score = (
            cast(func.ts_rank(Product.search_vector, any_word), Float)
            + closeness
            + case((exact_sku, EXACT_SKU_BONUS), else_=0.0)
        )
        return match, score

    def _filters(self, query: ProductQuery, *, few_candidates: bool) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = [Product.status == query.status]
        if query.min_price is not None:
            filters.append(Product.price >= query.min_price)
        if query.max_price is not None:
            filters.append(Product.price <= query.max_price)
        if query.in_stock is not None:
            in_stock: ColumnElement[bool]
            if few_candidates:
                # The text match bounds the candidates: look each one's stock up by key
                # rather than hash the whole inventory.
                available = (
                    select(func.sum(Inventory.on_hand - Inventory.reserved))
                    .where(Inventory.product_id == Product.id)
                    .scalar_subquery()
                )
                in_stock = func.coalesce(available, 0) > 0
            else:
                in_stock = Product.id.in_(
                    select(Inventory.product_id).where(Inventory.on_hand - Inventory.reserved > 0)
                )
            filters.append(in_stock if query.in_stock else ~in_stock)
        return filters

    def _sort_key(self, sort: SortOrder, score: ColumnElement[float] | None) -> ColumnElement[Any]:
        if sort is SortOrder.RELEVANCE:
            assert score is not None  # relevance is the sort only with words to rank
            return score
        columns: dict[SortOrder, ColumnElement[Any]] = {
            SortOrder.PRICE_ASC: Product.price.expression,
            SortOrder.PRICE_DESC: Product.price.expression,
            SortOrder.NEWEST: Product.created_at.expression,
            SortOrder.NAME: Product.name.expression,
        }
        return columns[sort]

    # --- a text search: one pass ------------------------------------------------------

    async def _match_once(
        self, session: AsyncSession, plan: _Plan
    ) -> tuple[list[Any], dict[uuid.UUID | None, int]]:
        """The page and the counts by category from one scan of the matches."""
        matched = (
            select(
                Product.id.label("id"),
                Product.category_id.label("category_id"),
                plan.key.label("sort_key"),
            )
            .where(*plan.filters)
            .cte("matched")
            .prefix_with("MATERIALIZED")
        )
        order = plan.order(matched.c.sort_key, matched.c.id)
        page = (
            select(
                matched.c.id,
                matched.c.sort_key,
                func.row_number().over(order_by=order).label("position"),
            )
            .where(
                plan.in_category(matched.c.category_id),
                plan.after_cursor(matched.c.sort_key, matched.c.id),
            )
            .order_by(*order)
            .limit(plan.query.limit + 1)
            .subquery("page")
        )
        counts = (
            select(matched.c.category_id, func.count().label("n"))
            .group_by(matched.c.category_id)
            .subquery("counts")
        )
        both = union_all(
            select(
                literal("page").label("part"),
                page.c.id,
                page.c.sort_key,
                page.c.position,
                cast(null(), Uuid).label("category_id"),
                cast(null(), BigInteger).label("n"),
            ),
            select(
                literal("counts"),
                cast(null(), Uuid),
                cast(null(), plan.key.type),
                cast(null(), BigInteger),
                counts.c.category_id,
                counts.c.n,
            ),
        )
        result = (await session.execute(both)).all()
        rows = sorted((r for r in result if r.part == "page"), key=lambda r: r.position)
        return rows, {r.category_id: r.n for r in result if r.part == "counts"}

    # --- a listing: counts, then the page ---------------------------------------------

    async def _count(self, session: AsyncSession, plan: _Plan) -> dict[uuid.UUID | None, int]:
        query = (
            select(Product.category_id, func.count())
            .where(*plan.filters)
            .group_by(Product.category_id)
        )
        return {row[0]: row[1] for row in await session.execute(query)}

    async def _walk(self, session: AsyncSession, plan: _Plan, total: int) -> list[Any]:
        matches: Select[Any] = select(Product.id.label("id"), plan.key.label("sort_key")).where(
            *plan.filters, plan.in_category(Product.category_id.expression)
        )
        # Few matches among many products (filters beyond status): find them all, then
        # sort. Walking the sort order's index would pass over every non-match.
        narrow = len(plan.filters) > 1 or plan.subtree is not None
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

    # --- totals, facets, products -----------------------------------------------------

    def _total(self, plan: _Plan, counts: dict[uuid.UUID | None, int]) -> int:
        if plan.subtree is None:
            return sum(counts.values())
        return sum(counts.get(category_id, 0) for category_id in plan.subtree)

    async def _facets(
        self, session: AsyncSession, counts: dict[uuid.UUID | None, int]
    ) -> list[CategoryFacet]:
        """Counts by category rolled up the tree: each category counts its subtree."""
        leaf_ids = [category_id for category_id in counts if category_id is not None]
        if not leaf_ids:
            return []
        leaf, ancestor = aliased(Category), aliased(Category)
        pairs = await session.execute(
            select(ancestor.slug, leaf.id)
            .join(
                ancestor,
                or_(leaf.path == ancestor.path, leaf.path.startswith(ancestor.path + "/")),
            )
            .where(leaf.id.in_(leaf_ids))
        )
        rolled_up: dict[str, int] = defaultdict(int)
        for slug, leaf_id in pairs:
            rolled_up[slug] += counts[leaf_id]
        return sorted(
            (CategoryFacet(slug=slug, count=n) for slug, n in rolled_up.items()),
            key=lambda facet: (-facet.count, facet.slug),
        )

    async def _load(self, session: AsyncSession, ids: list[uuid.UUID]) -> list[Product]:
        if not ids:
            return []
        found = await session.scalars(select(Product).where(Product.id.in_(ids)))
        loaded = {product.id: product for product in found}
        return [loaded[i] for i in ids if i in loaded]
