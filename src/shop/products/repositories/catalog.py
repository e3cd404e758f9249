"""Queries of the catalog: categories, products and their stock."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import exists, func, or_, select, update

from shop.products.models import Category, Inventory, Product, StockMovement
from shop.products.repositories.base import ANY_OF_IDS, Repository


class CategoryRepository(Repository[Category]):
    model = Category

    async def all_by_path(self) -> list[Category]:
        """Every category, parents before their children."""
        return list(await self.session.scalars(select(Category).order_by(Category.path)))

    async def move_subtree(self, old_path: str, new_path: str) -> None:
        """Every path below ``old_path`` starts with ``new_path`` instead."""
        await self.session.execute(
            update(Category)
            .where(Category.path.startswith(old_path + "/"))
            .values(path=new_path + func.substr(Category.path, len(old_path) + 1))
            .execution_options(synchronize_session=False)
        )

    async def has_children(self, category_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(select(exists().where(Category.parent_id == category_id)))
        )

    async def has_products(self, category_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(select(exists().where(Product.category_id == category_id)))
        )


# A page's products (built once: see ANY_OF_IDS).
_BY_IDS = select(Product).where(Product.id == ANY_OF_IDS)


class ProductRepository(Repository[Product]):
    model = Product

    async def in_order(self, ids: Sequence[uuid.UUID]) -> list[Product]:
        """The products of ``ids`` that exist, in the order of ``ids``."""
        if not ids:
            return []
        loaded = {
            product.id: product
            for product in await self.session.scalars(_BY_IDS, {"ids": list(ids)})
        }
        return [loaded[i] for i in ids if i in loaded]

    async def by_id_or_slug(self, id_or_slug: str) -> Product | None:
        try:
            lookup = Product.id == uuid.UUID(id_or_slug)
        except ValueError:
            lookup = Product.slug == id_or_slug
        product: Product | None = await self.session.scalar(select(Product).where(lookup))
        return product

    async def holding(self, sku: str, slug: str | None) -> list[tuple[str, str]]:
        """(sku, slug) of the products that have this SKU or this slug."""
        query = select(Product.sku, Product.slug).where(
            or_(Product.sku == sku, Product.slug == slug) if slug else Product.sku == sku
        )
        return [
            (found_sku, found_slug) for found_sku, found_slug in await self.session.execute(query)
        ]

    async def slugs_starting(self, prefix: str) -> set[str]:
        return set(
            await self.session.scalars(select(Product.slug).where(Product.slug.startswith(prefix)))
        )

    async def lock_for_edit(self, product_id: uuid.UUID) -> Product | None:
        """The product, locked ``FOR NO KEY UPDATE`` until the transaction ends."""
        # NO KEY UPDATE: reservations insert rows that reference the product (a KEY SHARE
        # lock), and must not wait on, or deadlock with, an edit of its name or price.
        product: Product | None = await self.session.scalar(
            select(Product).where(Product.id == product_id).with_for_update(key_share=True)
        )
        return product

    async def lock(self, product_id: uuid.UUID) -> Product | None:
        """The product, locked ``FOR UPDATE`` until the transaction ends, read fresh."""
        # populate_existing: the row as locked, not as this session may have seen it earlier.
        product: Product | None = await self.session.scalar(
            select(Product)
            .where(Product.id == product_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return product

    async def fresh_by_id(self, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Product]:
        """The products of ``product_ids`` that exist, read fresh, by id."""
        rows = await self.session.scalars(
            select(Product)
            .where(Product.id.in_(list(product_ids)))
            .execution_options(populate_existing=True)
        )
        return {product.id: product for product in rows}


class StockRepository(Repository[Inventory]):
    """The inventory rows (one per variant) and the ledger of stock movements."""

    model = Inventory

    async def of_variant(self, variant_id: uuid.UUID, *, lock: bool = False) -> Inventory | None:
        query = select(Inventory).where(Inventory.variant_id == variant_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        inventory: Inventory | None = await self.session.scalar(query)
        return inventory

    async def of_products(self, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Inventory]:
        """The inventory rows of these products' variants, by variant id."""
        rows = await self.session.scalars(
            select(Inventory).where(Inventory.product_id.in_(list(product_ids)))
        )
        return {row.variant_id: row for row in rows}

    async def lock_many(self, variant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Inventory]:
        """The inventory rows of ``variant_ids``, locked in variant order (the stable order
        every transaction uses, so that none waits for another in a cycle), read fresh."""
        ids = sorted(set(variant_ids))
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(Inventory)
            .where(Inventory.variant_id.in_(ids))
            .order_by(Inventory.variant_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {row.variant_id: row for row in rows}

    def record(self, movement: StockMovement) -> None:
        """A ledger row, written at the next flush."""
        self.session.add(movement)
