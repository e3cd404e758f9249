"""Totals and category facets of a PostgreSQL search: exact, or above
:data:`ESTIMATE_ABOVE` results estimated from a fixed sample, as search engines do.

Counting every result costs a pass over all of them: for a listing of the whole
catalog that is every product, on every request. So a listing without text first
counts a **sample**: the products whose id ends in the hexadecimal digit 0, one in
16 (ids are random UUIDs, and a product is in the sample or not for good). When
16 times the sample's count of the results, all categories together, is at most
:data:`ESTIMATE_ABOVE`, everything is counted exactly. Otherwise the category
facets (and the option facets) are 16 times the sample's counts, and so is
``total`` unless the category asked for is estimated at most ``ESTIMATE_ABOVE``:
then its total is counted exactly. So a ``total`` of at most 10,000 is always
exact, and the counts of a small catalog (the tests') are all exact.

A text search counts its matches exactly (it has found them all to rank them).

Every count is by category, rolled up the category tree here: each category
counts its subtree, so a facet's count is the total one gets by filtering on it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shop.products.models import Category, Product
from shop.products.search.port import CategoryFacet

SAMPLE_RATIO = 16
ESTIMATE_ABOVE = 10_000

Counts = dict[uuid.UUID | None, int]  # results by (leaf) category

# Each leaf category with its ancestors and itself, as (ancestor's slug, leaf's id):
# built once, not per request (see pg_prepare).
_LEAF, _ANCESTOR = aliased(Category, name="leaf"), aliased(Category, name="ancestor")
_ANCESTORS = (
    select(_ANCESTOR.slug, _LEAF.id)
    .join(
        _ANCESTOR,
        or_(_LEAF.path == _ANCESTOR.path, _LEAF.path.startswith(_ANCESTOR.path + "/")),
    )
    .where(_LEAF.id.in_(bindparam("leaf_ids", expanding=True)))
)


def in_sample() -> ColumnElement[bool]:
    """One product in 16, for good: its id's last hexadecimal digit is 0 (the column
    ``products.sample``, second key of ``ix_products_status_sample_category``)."""
    return Product.sample == "0"


async def _count(
    session: AsyncSession, filters: Sequence[ColumnElement[bool]], *, sampled: bool
) -> Counts:
    where = [*filters, in_sample()] if sampled else list(filters)
    query = select(Product.category_id, func.count()).where(*where).group_by(Product.category_id)
    ratio = SAMPLE_RATIO if sampled else 1
    return {category_id: n * ratio for category_id, n in await session.execute(query)}


def total_of(subtree: list[uuid.UUID] | None, counts: Counts) -> int:
    """The results in the category subtree asked for (all: None)."""
    if subtree is None:
        return sum(counts.values())
    return sum(counts.get(category_id, 0) for category_id in subtree)


async def listing_counts(
    session: AsyncSession,
    filters: Sequence[ColumnElement[bool]],
    subtree: list[uuid.UUID] | None,
) -> tuple[Counts, int, bool]:
    """``(counts by category, total, whether the total is an estimate)`` of a listing
    (``filters``: all but the category's)."""
    sample = await _count(session, filters, sampled=True)
    if sum(sample.values()) <= ESTIMATE_ABOVE:
        counts = await _count(session, filters, sampled=False)
        return counts, total_of(subtree, counts), False
    total = total_of(subtree, sample)
    if subtree is None or total > ESTIMATE_ABOVE:
        return sample, total, True
    if not subtree:
        return sample, 0, False
    exact = select(func.count()).where(*filters, Product.category_id.in_(subtree))
    return sample, int(await session.scalar(exact) or 0), False


async def category_facets(session: AsyncSession, counts: Counts) -> list[CategoryFacet]:
    """Counts by category rolled up the tree: each category counts its subtree."""
    leaf_ids = [category_id for category_id in counts if category_id is not None]
    if not leaf_ids:
        return []
    pairs = await session.execute(_ANCESTORS, {"leaf_ids": leaf_ids})
    rolled_up: dict[str, int] = defaultdict(int)
    for slug, leaf_id in pairs:
        rolled_up[slug] += counts[leaf_id]
    return sorted(
        (CategoryFacet(slug=slug, count=n) for slug, n in rolled_up.items()),
        key=lambda facet: (-facet.count, facet.slug),
    )
