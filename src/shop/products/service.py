"""Catalog use cases: categories, products and stock adjustments.

Plain functions over a :class:`Catalog` context. They flush but never commit:
the request's session dependency commits once. Every write invalidates the
read cache after the commit (a stock adjustment only that product's reads,
see cache.py) and tells the search index through the outbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from shop.kit.outbox import enqueue
from shop.products.cache import CatalogCache
from shop.products.changes import product_changed
from shop.products.errors import (
    CategoryCycleError,
    CategoryInUseError,
    CategoryNotFoundError,
    DuplicateError,
    ProductNotFoundError,
    StockBelowReservedError,
    UnknownReferenceError,
    VersionMismatchError,
)
from shop.products.models import (
    Category,
    Inventory,
    Product,
    ProductStatus,
    StockMovement,
    StockReason,
    outbox,
)
from shop.products.schemas import CategoryIn, CategoryUpdate, ProductIn, ProductUpdate
from shop.products.search import CATEGORY_CHANGED
from shop.products.slugs import MAX_LENGTH, slugify


@dataclass
class Catalog:
    """What the use cases work with during one request."""

    session: AsyncSession
    cache: CatalogCache
    currency: str
    actor: str = "system"

    async def changed(self, product_id: uuid.UUID | None = None) -> None:
        """After any catalog write: readers see it once committed; the search index
        hears of it."""
        self.cache.invalidate_after_commit(self.session)
        if product_id is not None:
            await product_changed(self.session, [product_id])

    async def stock_changed(self, product_id: uuid.UUID) -> None:
        """After a stock change: the product's reads are fresh once committed (listings
        within the cache's staleness window); the search index hears of it."""
        self.cache.stock_changed_after_commit(self.session, [product_id])
        await product_changed(self.session, [product_id])


# --- categories ---------------------------------------------------------------------


async def _category(catalog: Catalog, category_id: uuid.UUID) -> Category:
    category = await catalog.session.get(Category, category_id)
    if category is None:
        raise CategoryNotFoundError
    return category


async def _parent(catalog: Catalog, parent_id: uuid.UUID | None) -> Category | None:
    if parent_id is None:
        return None
    parent = await catalog.session.get(Category, parent_id)
    if parent is None:
        raise UnknownReferenceError("parent_id", "no such category")
    return parent


async def _flush_unique(catalog: Catalog, what: str) -> None:
    try:
        await catalog.session.flush()
    except IntegrityError as exc:
        raise DuplicateError(f"A {what} with this slug or SKU already exists.") from exc


async def create_category(catalog: Catalog, data: CategoryIn) -> Category:
    parent = await _parent(catalog, data.parent_id)
    category_id = uuid.uuid4()
    category = Category(
        id=category_id,
        name=data.name,
        slug=data.slug or slugify(data.name),
        parent_id=parent.id if parent else None,
        path=f"{parent.path}/{category_id}" if parent else str(category_id),
    )
    catalog.session.add(category)
    await _flush_unique(catalog, "category")
    await catalog.changed()
    return category


async def update_category(
    catalog: Catalog, category_id: uuid.UUID, data: CategoryUpdate
) -> Category:
    category = await _category(catalog, category_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and data.name is not None:
        category.name = data.name
    if "slug" in changes and data.slug is not None:
        category.slug = data.slug
    if "parent_id" in changes and data.parent_id != category.parent_id:
        parent = await _parent(catalog, data.parent_id)
        if parent is not None and (parent.path + "/").startswith(category.path + "/"):
            raise CategoryCycleError("A category cannot move under itself.")
        old_path = category.path
        new_path = f"{parent.path}/{category.id}" if parent else str(category.id)
        category.parent_id = parent.id if parent else None
        # The whole subtree moves: every path below starts with the new prefix.
        await catalog.session.execute(
            update(Category)
            .where(Category.path.startswith(old_path + "/"))
            .values(path=new_path + func.substr(Category.path, len(old_path) + 1))
            .execution_options(synchronize_session=False)
        )
        category.path = new_path
    await _flush_unique(catalog, "category")
    await catalog.changed()
    # Products below it are indexed with its name and place in the tree.
    await enqueue(catalog.session, outbox, CATEGORY_CHANGED, {"id": str(category.id)})
    return category


async def delete_category(catalog: Catalog, category_id: uuid.UUID) -> None:
    category = await _category(catalog, category_id)
    session = catalog.session
    has_children = await session.scalar(select(exists().where(Category.parent_id == category.id)))
    has_products = await session.scalar(select(exists().where(Product.category_id == category.id)))
    if has_children or has_products:
        raise CategoryInUseError("Move or delete its subcategories and products first.")
    await session.delete(category)
    await session.flush()
    await catalog.changed()


async def list_categories(session: AsyncSession) -> list[Category]:
    return list(await session.scalars(select(Category).order_by(Category.path)))


# --- products -----------------------------------------------------------------------


async def _unique_slug(catalog: Catalog, base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` ... whichever is free."""
    taken = set(
        await catalog.session.scalars(
            select(Product.slug).where(Product.slug.startswith(base[: MAX_LENGTH - 8]))
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base[: MAX_LENGTH - 8]}-{n}" in taken:
        n += 1
    return f"{base[: MAX_LENGTH - 8]}-{n}"


async def _check_category(catalog: Catalog, category_id: uuid.UUID | None) -> None:
    if category_id is not None and await catalog.session.get(Category, category_id) is None:
        raise UnknownReferenceError("category_id", "no such category")


async def create_product(catalog: Catalog, data: ProductIn) -> Product:
    await _check_category(catalog, data.category_id)
    product = Product(
        sku=data.sku,
        slug=data.slug or await _unique_slug(catalog, slugify(data.name)),
        name=data.name,
        description=data.description,
        price=data.price,
        currency=catalog.currency,
        category_id=data.category_id,
        attributes=data.attributes,
        status=data.status,
    )
    catalog.session.add(product)
    await _flush_unique(catalog, "product")
    catalog.session.add(Inventory(product_id=product.id, on_hand=data.initial_stock, reserved=0))
    if data.initial_stock:
        catalog.session.add(
            StockMovement(
                product_id=product.id,
                on_hand_delta=data.initial_stock,
                reason=StockReason.ADJUSTMENT,
                note="initial stock",
                actor=catalog.actor,
            )
        )
    await catalog.session.flush()
    await catalog.changed(product.id)
    return product


def _lookup(id_or_slug: str) -> object:
    try:
        return Product.id == uuid.UUID(id_or_slug)
    except ValueError:
        return Product.slug == id_or_slug


async def find_product(
    session: AsyncSession, id_or_slug: str, *, include_drafts: bool = False
) -> Product:
    """A product by id or slug. Archived ones stay readable (orders refer to them);
    drafts only for those who may see them."""
    product: Product | None = await session.scalar(select(Product).where(_lookup(id_or_slug)))  # type: ignore[arg-type]
    if product is None or (product.status == ProductStatus.DRAFT and not include_drafts):
        raise ProductNotFoundError
    return product


async def _locked_product(catalog: Catalog, product_id: uuid.UUID) -> Product:
    # NO KEY UPDATE: reservations insert rows that reference the product (a KEY SHARE
    # lock), and must not wait on, or deadlock with, an edit of its name or price.
    product = await catalog.session.scalar(
        select(Product).where(Product.id == product_id).with_for_update(key_share=True)
    )
    if product is None:
        raise ProductNotFoundError
    return product


async def update_product(
    catalog: Catalog, product_id: uuid.UUID, data: ProductUpdate, expected_version: int | None
) -> Product:
    product = await _locked_product(catalog, product_id)
    if expected_version is not None and expected_version != product.version:
        raise VersionMismatchError("The product has changed since you read it.")
    changes = data.model_dump(exclude_unset=True)
    if "category_id" in changes:
        await _check_category(catalog, data.category_id)
    for field, value in changes.items():
        if value is None and field != "category_id":
            continue  # null means "leave as is" for fields that cannot be empty
        setattr(product, field, value)
    try:
        await _flush_unique(catalog, "product")
    except StaleDataError as exc:  # a concurrent write got there first
        raise VersionMismatchError("The product has changed since you read it.") from exc
    await catalog.changed(product.id)
    return product


async def archive_product(catalog: Catalog, product_id: uuid.UUID) -> None:
    product = await _locked_product(catalog, product_id)
    if product.status != ProductStatus.ARCHIVED:
        product.status = ProductStatus.ARCHIVED
        await catalog.session.flush()
        await catalog.changed(product.id)


# --- stock --------------------------------------------------------------------------


async def inventory_of(
    session: AsyncSession, product_id: uuid.UUID, *, lock: bool = False
) -> Inventory:
    query = select(Inventory).where(Inventory.product_id == product_id)
    if lock:
        query = query.with_for_update()
    inventory = await session.scalar(query)
    if inventory is None:
        raise ProductNotFoundError
    return inventory


async def adjust_stock(
    catalog: Catalog, product_id: uuid.UUID, delta: int, reason: str
) -> Inventory:
    inventory = await inventory_of(catalog.session, product_id, lock=True)
    if inventory.on_hand + delta < inventory.reserved:
        raise StockBelowReservedError(
            f"On hand would be {inventory.on_hand + delta}, below the {inventory.reserved} "
            "units reserved for orders.",
            on_hand=inventory.on_hand,
            reserved=inventory.reserved,
        )
    inventory.on_hand += delta
    catalog.session.add(
        StockMovement(
            product_id=product_id,
            on_hand_delta=delta,
            reason=StockReason.ADJUSTMENT,
            note=reason,
            actor=catalog.actor,
        )
    )
    await catalog.session.flush()
    await catalog.stock_changed(product_id)
    return inventory
