"""Queries of a product's options and variants."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    String,
    Text,
    Uuid,
    cast,
    column,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy import values as values_list
from sqlalchemy.dialects.postgresql import JSONB

from shop.products.models import (
    Inventory,
    Product,
    ProductOption,
    ProductStatus,
    ProductVariant,
    VariantStatus,
)
from shop.products.options import Declared
from shop.products.repositories.base import ANY_OF_IDS, Repository

# Variants rewritten per statement by a change of options (3 parameters each; a
# statement takes at most 32,767).
REWRITE_CHUNK = 1000

# A page's variants with their stock, and its options (built once: see ANY_OF_IDS).
_VARIANTS_WITH_STOCK = (
    select(ProductVariant, Inventory)
    .outerjoin(Inventory, Inventory.variant_id == ProductVariant.id)
    .where(ProductVariant.product_id == ANY_OF_IDS)
    .order_by(ProductVariant.position, ProductVariant.created_at)
)
_OPTIONS = (
    select(ProductOption)
    .where(ProductOption.product_id == ANY_OF_IDS)
    .order_by(ProductOption.product_id, ProductOption.position)
)


class VariantRepository(Repository[ProductVariant]):
    model = ProductVariant

    async def of_products(
        self, product_ids: Iterable[uuid.UUID], *, active_only: bool = False
    ) -> dict[uuid.UUID, list[ProductVariant]]:
        """Each product's variants in their order (every product of ``product_ids`` has
        a list, maybe empty)."""
        ids = list(product_ids)
        query = select(ProductVariant).where(ProductVariant.product_id.in_(ids))
        if active_only:
            query = query.where(ProductVariant.status == VariantStatus.ACTIVE)
        query = query.order_by(ProductVariant.position, ProductVariant.created_at)
        found: dict[uuid.UUID, list[ProductVariant]] = {product_id: [] for product_id in ids}
        for variant in await self.session.scalars(query):
            found[variant.product_id].append(variant)
        return found

    async def of_product(self, product_id: uuid.UUID) -> list[ProductVariant]:
        return (await self.of_products([product_id]))[product_id]

    async def taken_skus(self, skus: Iterable[str]) -> set[str]:
        """Those of ``skus`` some variant has (archived ones keep theirs)."""
        wanted = list(skus)
        found = await self.session.scalars(
            select(ProductVariant.sku).where(ProductVariant.sku.in_(wanted))
        )
        return set(found)

    async def with_stock(
        self, product_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[ProductVariant, Inventory | None]]]:
        """Each product's variants in their order, each with its inventory row (one
        query for a whole page)."""
        ids = list(product_ids)
        rows = await self.session.execute(_VARIANTS_WITH_STOCK, {"ids": ids})
        found: dict[uuid.UUID, list[tuple[ProductVariant, Inventory | None]]] = {
            product_id: [] for product_id in ids
        }
        for variant, stock in rows:
            found[variant.product_id].append((variant, stock))
        return found

    async def fresh_by_id(
        self, variant_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, ProductVariant]:
        """The variants of ``variant_ids`` that exist, read fresh, by id."""
        rows = await self.session.scalars(
            select(ProductVariant)
            .where(ProductVariant.id.in_(list(variant_ids)))
            .execution_options(populate_existing=True)
        )
        return {variant.id: variant for variant in rows}

    async def sellable_rows(
        self, variant_ids: Iterable[uuid.UUID], product_ids: Iterable[uuid.UUID]
    ) -> list[tuple[ProductVariant, Product, Inventory | None]]:
        """In one query: the variants of ``variant_ids`` (any status), and the active
        variants of the active products of ``product_ids``, each with its product and its
        stock (for the carts' look-up of current prices)."""
        by_variant = ProductVariant.id.in_(list(variant_ids))
        by_product = (
            ProductVariant.product_id.in_(list(product_ids))
            & (ProductVariant.status == VariantStatus.ACTIVE)
            & (Product.status == ProductStatus.ACTIVE)
        )
        rows = await self.session.execute(
            select(ProductVariant, Product, Inventory)
            .join(Product, Product.id == ProductVariant.product_id)
            .outerjoin(Inventory, Inventory.variant_id == ProductVariant.id)
            .where(by_variant | by_product)
        )
        return [(variant, product, stock) for variant, product, stock in rows]

    async def low_stock(
        self, threshold: int, limit: int, after: tuple[int, uuid.UUID] | None = None
    ) -> list[tuple[ProductVariant, Product, Inventory]]:
        """Active variants of active or draft products with at most ``threshold`` units
        available, fewest first, by (available, variant id). A scan of the narrow
        inventory table: an admin's question, not a shopper's."""
        available = Inventory.on_hand - Inventory.reserved
        query = (
            select(ProductVariant, Product, Inventory)
            .join(Inventory, Inventory.variant_id == ProductVariant.id)
            .join(Product, Product.id == ProductVariant.product_id)
            .where(
                available <= threshold,
                ProductVariant.status == VariantStatus.ACTIVE,
                Product.status != ProductStatus.ARCHIVED,
            )
            .order_by(available, ProductVariant.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(available, ProductVariant.id) > tuple_(*after))
        rows = await self.session.execute(query)
        return [(variant, product, stock) for variant, product, stock in rows]

    async def lowest_active_price(self, product_id: uuid.UUID) -> int | None:
        price: int | None = await self.session.scalar(
            select(func.min(ProductVariant.price)).where(
                ProductVariant.product_id == product_id,
                ProductVariant.status == VariantStatus.ACTIVE,
            )
        )
        return price

    async def rewrite_options(
        self, changes: Sequence[tuple[ProductVariant, dict[str, str], str]]
    ) -> None:
        """Each ``(variant, options, title)`` written, with a new version, in two
        statements (per thousand variants). The first moves the variants out of each
        other's way: the unique index of active combinations is checked row by row, so
        two variants swapping values would collide halfway through a single statement.
        The variants are expired: they load again as written."""
        chunks = [changes[i : i + REWRITE_CHUNK] for i in range(0, len(changes), REWRITE_CHUNK)]
        for chunk in chunks:
            await self.session.execute(
                update(ProductVariant)
                .where(ProductVariant.id.in_([variant.id for variant, _, _ in chunk]))
                .values(options=func.jsonb_build_object("", cast(ProductVariant.id, Text)))
                .execution_options(synchronize_session=False)
            )
        for chunk in chunks:
            rows = values_list(
                column("id", Uuid),
                column("options", JSONB),
                column("title", String),
                name="changed",
            ).data([(variant.id, options, title) for variant, options, title in chunk])
            await self.session.execute(
                update(ProductVariant)
                .where(ProductVariant.id == rows.c.id)
                .values(
                    options=rows.c.options,
                    title=rows.c.title,
                    version=ProductVariant.version + 1,
                    updated_at=func.now(),
                )
                .execution_options(synchronize_session=False)
            )
        for variant, _, _ in changes:
            self.session.expire(variant)

    async def next_position(self, product_id: uuid.UUID) -> int:
        last: int | None = await self.session.scalar(
            select(func.max(ProductVariant.position)).where(ProductVariant.product_id == product_id)
        )
        return 0 if last is None else last + 1


class OptionRepository(Repository[ProductOption]):
    model = ProductOption

    async def of_products(
        self, product_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[ProductOption]]:
        """Each product's options in their order."""
        found: dict[uuid.UUID, list[ProductOption]] = defaultdict(list)
        rows = await self.session.scalars(_OPTIONS, {"ids": list(product_ids)})
        for option in rows:
            found[option.product_id].append(option)
        return found

    async def of_product(self, product_id: uuid.UUID) -> list[ProductOption]:
        return (await self.of_products([product_id])).get(product_id, [])

    async def replace(
        self, product_id: uuid.UUID, current: Sequence[ProductOption], options: Declared
    ) -> None:
        """The product's option rows become ``options``: the current ones are deleted
        first, since a name may move to another position (names are unique per product)."""
        for row in current:
            await self.session.delete(row)
        await self.session.flush()
        for position, (name, values) in enumerate(options):
            self.session.add(
                ProductOption(
                    product_id=product_id, position=position, name=name, values=list(values)
                )
            )
        await self.session.flush()
