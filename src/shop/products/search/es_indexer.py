"""Keeps the search engine's index (Elasticsearch or OpenSearch) in step with the
catalog, and rebuilds it.

The index is always reached through the alias (``ELASTICSEARCH_INDEX`` or
``OPENSEARCH_INDEX``)
(writes pass ``require_alias``, so a missing alias is an error, never an index
made up by dynamic mapping). :func:`ensure_index` creates a first index behind
the alias; :func:`reindex` (``shop search reindex``) builds a new timestamped
index, bulk-loads every product, swaps the alias atomically, catches up with
what changed meanwhile and deletes the old indices.

The outbox handlers load the product as it is *now* and index or delete it, so
a message delivered twice or late does no harm. Topics:

- ``product.changed`` ``{"id": ...}``: the catalog sends it on every product
  write (catalog service) and stock change.
- ``category.changed`` ``{"id": ...}``: a category's name, slug or place changed;
  every product of its subtree is indexed again.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.outbox import Handler
from shop.products.models import Category, Inventory, Product, ProductVariant, VariantStatus
from shop.products.search.engine import SearchEngine
from shop.products.search.es_mapping import IndexedVariant, index_definition, product_document

PRODUCT_CHANGED = "product.changed"
CATEGORY_CHANGED = "category.changed"
BATCH_SIZE = 500
# Writes stamp updated_at when their transaction began; the catch-up after a swap
# looks this much further back, for transactions that were open when the load began.
CATCH_UP_MARGIN = timedelta(minutes=1)

log = structlog.get_logger("shop.products.search")


async def _lineages(
    session: AsyncSession, category_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[Category]]:
    """Each category with its ancestors (by the ids of its materialized path)."""
    if not category_ids:
        return {}
    categories = {c.id: c for c in await session.scalars(select(Category))}
    lineages: dict[uuid.UUID, list[Category]] = {}
    for category_id in category_ids:
        category = categories.get(category_id)
        if category is None:
            continue
        ids = [uuid.UUID(part) for part in category.path.split("/") if part]
        lineages[category_id] = [categories[i] for i in ids if i in categories]
    return lineages


async def load_documents(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> dict[str, dict[str, Any]]:
    """Documents of the products that exist, by id, with their active variants and
    their stock (three queries for any number)."""
    if not product_ids:
        return {}
    products = list(await session.scalars(select(Product).where(Product.id.in_(product_ids))))
    variants: dict[uuid.UUID, list[IndexedVariant]] = defaultdict(list)  # active ones
    for variant, stock in await session.execute(
        select(ProductVariant, Inventory)
        .outerjoin(Inventory, Inventory.variant_id == ProductVariant.id)
        .where(
            ProductVariant.product_id.in_(product_ids),
            ProductVariant.status == VariantStatus.ACTIVE,
        )
        .order_by(ProductVariant.position, ProductVariant.id)
    ):
        variants[variant.product_id].append(
            IndexedVariant(
                sku=variant.sku,
                options=dict(variant.options),
                price=variant.price,
                available=stock.on_hand - stock.reserved if stock is not None else 0,
            )
        )
    lineages = await _lineages(session, {p.category_id for p in products if p.category_id})
    return {
        str(p.id): product_document(
            p, lineages.get(p.category_id, []) if p.category_id else [], variants[p.id]
        )
        for p in products
    }


def new_index_name(alias: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S%f")
    return f"{alias}-{stamp}"


async def ensure_index(engine: SearchEngine, alias: str) -> None:
    """Creates a first index behind ``alias`` unless the alias exists."""
    if await engine.alias_exists(alias):
        return
    index = new_index_name(alias)
    await engine.create_index(index, index_definition(), alias=alias)
    log.info("search index created", index=index, alias=alias)


class ProductIndexer:
    """The outbox handlers of the Elasticsearch and OpenSearch backends."""

    def __init__(
        self,
        engine: SearchEngine,
        alias: str,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.engine = engine
        self.alias = alias
        self.sessionmaker = sessionmaker
        self._ready = False

    def handlers(self) -> dict[str, Handler]:
        return {PRODUCT_CHANGED: self.product_changed, CATEGORY_CHANGED: self.category_changed}

    async def _ensure_index(self) -> None:
        if not self._ready:
            await ensure_index(self.engine, self.alias)
            self._ready = True

    async def product_changed(self, payload: dict[str, Any]) -> None:
        product_id = uuid.UUID(str(payload["id"]))
        await self._ensure_index()
        async with self.sessionmaker() as session:
            documents = await load_documents(session, [product_id])
        document = documents.get(str(product_id))
        if document is None:  # gone (never indexed, or deleted already: no error)
            await self.engine.delete_document(self.alias, str(product_id))
            return
        await self.engine.put_document(self.alias, str(product_id), document)

    async def category_changed(self, payload: dict[str, Any]) -> None:
        category_id = uuid.UUID(str(payload["id"]))
        await self._ensure_index()
        async with self.sessionmaker() as session:
            category = await session.get(Category, category_id)
            if category is None:
                return  # deleted: it had no products
            in_subtree = select(Category.id).where(
                or_(Category.id == category.id, Category.path.startswith(category.path + "/"))
            )
            ids = list(
                await session.scalars(select(Product.id).where(Product.category_id.in_(in_subtree)))
            )
            for start in range(0, len(ids), BATCH_SIZE):
                documents = await load_documents(session, ids[start : start + BATCH_SIZE])
                await self.engine.bulk_index(self.alias, documents, require_alias=True)


@dataclass(frozen=True)
class ReindexResult:
    index: str
    alias: str
    products: int
    removed: list[str]


async def _product_ids(
    session: AsyncSession, changed_since: datetime | None = None
) -> AsyncIterator[list[uuid.UUID]]:
    """Every product id (or those changed since a time), in batches, by keyset."""
    last: uuid.UUID | None = None
    while True:
        query = select(Product.id).order_by(Product.id).limit(BATCH_SIZE)
        if last is not None:
            query = query.where(Product.id > last)
        if changed_since is not None:
            stock_changed = select(Inventory.product_id).where(
                Inventory.updated_at >= changed_since
            )
            query = query.where(
                or_(Product.updated_at >= changed_since, Product.id.in_(stock_changed))
            )
        batch = list(await session.scalars(query))
        if not batch:
            return
        yield batch
        last = batch[-1]


async def reindex(
    engine: SearchEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    alias: str,
    indexed: Callable[[int], None] = lambda count: None,
) -> ReindexResult:
    """Builds a new index from the database and points ``alias`` at it, atomically.
    ``indexed`` hears how many more products are in the new index after each batch
    (the command line's progress).

    Searches go on against the old index until the swap. Changes the outbox worker
    writes to the alias during the load land in the old index, so after the swap
    the products changed since the load began are indexed again."""
    index = new_index_name(alias)
    await engine.create_index(index, index_definition())
    count = 0
    async with sessionmaker() as session:
        started: datetime = (await session.execute(select(func.now()))).scalar_one()
        async for batch in _product_ids(session):
            documents = await load_documents(session, batch)
            await engine.bulk_index(index, documents, require_alias=False)
            count += len(documents)
            indexed(len(documents))
    await engine.refresh(index)

    previous = await engine.indices_of_alias(alias)
    actions: list[dict[str, Any]] = [{"add": {"index": index, "alias": alias}}]
    actions += [{"remove": {"index": old, "alias": alias}} for old in previous]
    if not previous and await engine.index_exists(alias):
        actions.append({"remove_index": {"index": alias}})  # a concrete index of that name
    await engine.update_aliases(actions)

    async with sessionmaker() as session:
        async for batch in _product_ids(session, changed_since=started - CATCH_UP_MARGIN):
            documents = await load_documents(session, batch)
            await engine.bulk_index(index, documents, require_alias=False)
    removed = [old for old in previous if old != index]
    for old in removed:
        await engine.delete_index(old)
    log.info("search index rebuilt", index=index, alias=alias, products=count, removed=removed)
    return ReindexResult(index=index, alias=alias, products=count, removed=removed)
