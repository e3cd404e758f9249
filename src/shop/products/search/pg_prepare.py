"""The round trip before a PostgreSQL search (:func:`prepare`): what the words, the
category and the SKU need of the database, in one statement."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shop.products.models import Category, ProductVariant, VariantStatus
from shop.products.search.pg_text import (
    searchable,
    vocabulary_lookup,
    vocabulary_parameters,
)
from shop.products.search.query import ProductQuery

# The category asked for (made once: see pg_variants).
_ROOT = aliased(Category, name="root")


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` found: the words searched (English stop words left out
    when others remain), the ids of the category subtree (None without a category
    filter, empty for an unknown category), what the vocabulary says of the words
    (see pg_text.vocabulary_lookup; None without words), and the products of which an
    active variant has ``q`` as its SKU. The in-process index finds the same in the
    process (mem_words.look_up)."""

    words: list[str]
    subtree: list[uuid.UUID] | None
    found: list[list[Any]] | None
    sku_products: list[uuid.UUID]


@functools.cache
def _statement(word_count: int, with_category: bool) -> Select[Any]:
    """:func:`prepare`'s statement for this many words, with or without a category:
    built once, its values named parameters (building it anew per request was a sixth
    of a search's Python)."""
    columns: list[ColumnElement[Any]] = [
        func.set_config("plan_cache_mode", "force_custom_plan", True),
    ]
    columns += [searchable(bindparam(f"word_{i}", type_=Text)) for i in range(word_count)]
    if with_category:
        subtree_ids = (
            select(func.array_agg(Category.id))
            .join(_ROOT, _ROOT.slug == bindparam("category", type_=Text))
            .where(or_(Category.path == _ROOT.path, Category.path.startswith(_ROOT.path + "/")))
            .scalar_subquery()
        )
        columns.append(subtree_ids)
    if word_count:
        columns.append(
            select(func.array_agg(ProductVariant.product_id))
            .where(
                ProductVariant.sku == any_(bindparam("skus", type_=ARRAY(Text))),
                ProductVariant.status == VariantStatus.ACTIVE,
            )
            .scalar_subquery()
        )
        columns.append(vocabulary_lookup())
    return select(*columns)


async def prepare(session: AsyncSession, query: ProductQuery) -> Prepared:
    """One round trip before the searches: settings for this transaction, which
    words are English stop words, the category subtree, what the vocabulary says of
    the words and the exact SKU's products (see :class:`Prepared`).

    Plans are made for the actual values (a rare word and a common one want
    different plans)."""
    words = list(query.words)
    parameters: dict[str, Any] = {f"word_{i}": word for i, word in enumerate(words)}
    if query.category is not None:
        parameters["category"] = query.category
    if words:
        assert query.q is not None
        parameters["skus"] = sorted({query.q, query.q.upper()})
        parameters |= vocabulary_parameters(words)
    statement = _statement(len(words), query.category is not None)
    row = list((await session.execute(statement, parameters)).one())
    keep = row[1 : 1 + len(words)]
    subtree: list[uuid.UUID] | None = None
    if query.category is not None:
        subtree = list(row[1 + len(words)] or [])
    if not words:
        return Prepared([], subtree, None, [])
    sku_products: list[uuid.UUID] = list(row[-2] or [])
    found: list[list[Any]] = row[-1] or []
    if not any(keep):  # only stop words: search them anyway
        return Prepared(words, subtree, found, sku_products)
    # Renumber what the vocabulary said for the words kept (positions from 1).
    renumbered = {
        old: new
        for new, old in enumerate((i for i, kept in enumerate(keep, start=1) if kept), start=1)
    }
    # The prefix said of the last word: not of another when that one is a stop word.
    renumbered[-1] = -1 if keep[-1] else 0
    found = [[renumbered[i], w] for i, w in found if renumbered.get(i, 0) != 0]
    words = [w for w, kept in zip(words, keep, strict=True) if kept]
    return Prepared(words, subtree, found, sku_products)
