"""The round trip before a PostgreSQL search (:func:`prepare`): what the words, the
category and the SKU need of the database, in one statement."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shop.products.models import Category, ProductVariant, VariantStatus
from shop.products.search.pg_text import ENGLISH, vocabulary_lookup
from shop.products.search.query import ProductQuery

# The category asked for (made once: see pg_variants).
_ROOT = aliased(Category, name="root")


async def prepare(
    session: AsyncSession, query: ProductQuery
) -> tuple[list[str], list[uuid.UUID] | None, list[list[Any]] | None, list[uuid.UUID]]:
    """One round trip before the searches: settings for this transaction, which
    words are English stop words, the ids of the category subtree (None without a
    category filter, empty for an unknown category), what the vocabulary
    says of the words (see pg_text.vocabulary_lookup), and the products of which
    an active variant has ``q`` as its SKU.

    Plans are made for the actual values (a rare word and a common one want
    different plans)."""
    columns: list[ColumnElement[Any]] = [
        func.set_config("plan_cache_mode", "force_custom_plan", True),
    ]
    words = list(query.words)
    columns += [func.numnode(func.to_tsquery(ENGLISH, func.shop_unaccent(w))) > 0 for w in words]
    if query.category is not None:
        root = _ROOT
        subtree_ids = (
            select(func.array_agg(Category.id))
            .join(root, root.slug == query.category)
            .where(or_(Category.path == root.path, Category.path.startswith(root.path + "/")))
            .scalar_subquery()
        )
        columns.append(subtree_ids)
    if words:
        assert query.q is not None
        columns.append(
            select(func.array_agg(ProductVariant.product_id))
            .where(
                ProductVariant.sku.in_(sorted({query.q, query.q.upper()})),
                ProductVariant.status == VariantStatus.ACTIVE,
            )
            .scalar_subquery()
        )
        columns.append(vocabulary_lookup(words))
    row = (await session.execute(select(*columns))).one()
    keep = list(row[1 : 1 + len(words)])
    subtree: list[uuid.UUID] | None = None
    if query.category is not None:
        subtree = list(row[1 + len(words)] or [])
    if not words:
        return [], subtree, None, []
    sku_products: list[uuid.UUID] = list(row[-2] or [])
    found: list[list[Any]] = row[-1] or []
    if not any(keep):  # only stop words: search them anyway
        return words, subtree, found, sku_products
    # Renumber what the vocabulary said for the words kept (positions from 1).
    renumbered = {
        old: new
        for new, old in enumerate((i for i, kept in enumerate(keep, start=1) if kept), start=1)
    }
    # The prefix said of the last word: not of another when that one is a stop word.
    renumbered[-1] = -1 if keep[-1] else 0
    found = [[renumbered[i], w] for i, w in found if renumbered.get(i, 0) != 0]
    words = [w for w, kept in zip(words, keep, strict=True) if kept]
    return words, subtree, found, sku_products
