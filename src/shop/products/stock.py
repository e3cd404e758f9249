"""Stock use cases: a product's inventory by variant, and adjustments of a variant's.

Like the catalog's, they take the caller's session, flush and never commit. An
adjustment announces a stock change (only that product's cached reads go stale).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.pagination import decode_cursor, encode_cursor
from shop.products.cache import CatalogCache
from shop.products.changes import announce
from shop.products.errors import (
    ProductNotFoundError,
    StockBelowReservedError,
    VariantNotFoundError,
    VariantRequiredError,
)
from shop.products.models import (
    Inventory,
    ProductVariant,
    StockMovement,
    StockReason,
    VariantStatus,
)
from shop.products.repositories import ProductRepository, StockRepository, VariantRepository
from shop.products.schemas import (
    InventoryOut,
    LowStockItemOut,
    LowStockPage,
    VariantInventoryOut,
)


async def inventory_of(session: AsyncSession, product_id: uuid.UUID) -> InventoryOut:
    """Every variant's stock (archived ones too: their units are still counted), and
    the sums over them."""
    if await ProductRepository(session).get(product_id) is None:
        raise ProductNotFoundError
    variants = await VariantRepository(session).of_product(product_id)
    rows = await StockRepository(session).of_products([product_id])
    lines = [_line(variant, rows[variant.id]) for variant in variants if variant.id in rows]
    return InventoryOut(
        on_hand=sum(line.on_hand for line in lines),
        reserved=sum(line.reserved for line in lines),
        available=sum(line.available for line in lines),
        variants=lines,
    )


async def low_stock(
    session: AsyncSession, threshold: int, limit: int, cursor: str | None
) -> LowStockPage:
    """A page of the variants that may run out: active, of a product not archived, with
    at most ``threshold`` units available; fewest first."""
    after = decode_cursor(cursor, int, uuid.UUID) if cursor else None
    rows = await VariantRepository(session).low_stock(
        threshold, limit + 1, (after[0], after[1]) if after else None
    )
    page = rows[:limit]
    items = [
        LowStockItemOut(
            product_id=product.id,
            product_name=product.name,
            product_status=product.status,
            variant_id=variant.id,
            sku=variant.sku,
            title=variant.title,
            on_hand=row.on_hand,
            reserved=row.reserved,
            available=row.available,
        )
        for variant, product, row in page
    ]
    last = items[-1] if items else None
    more = len(rows) > limit and last is not None
    return LowStockPage(
        items=items,
        next_cursor=encode_cursor([last.available, last.variant_id]) if more and last else None,
    )


def _line(variant: ProductVariant, row: Inventory) -> VariantInventoryOut:
    return VariantInventoryOut(
        variant_id=variant.id,
        sku=variant.sku,
        on_hand=row.on_hand,
        reserved=row.reserved,
        available=row.on_hand - row.reserved,
    )


async def _variant_to_adjust(
    session: AsyncSession, product_id: uuid.UUID, variant_id: uuid.UUID | None
) -> uuid.UUID:
    variants = await VariantRepository(session).of_product(product_id)
    if not variants and await ProductRepository(session).get(product_id) is None:
        raise ProductNotFoundError
    if variant_id is not None:
        if not any(variant.id == variant_id for variant in variants):
            raise VariantNotFoundError
        return variant_id
    active = [variant for variant in variants if variant.status == VariantStatus.ACTIVE]
    if len(active) != 1:
        raise VariantRequiredError("The product has several variants: name one (variant_id).")
    return active[0].id


async def adjust_stock(
    session: AsyncSession,
    cache: CatalogCache,
    actor: str,
    product_id: uuid.UUID,
    variant_id: uuid.UUID | None,
    delta: int,
    reason: str,
) -> InventoryOut:
    """Adds ``delta`` to the variant's units on hand (``variant_id`` may be left out for
    a product with a single active variant); never below those reserved."""
    variant_id = await _variant_to_adjust(session, product_id, variant_id)
    stock = StockRepository(session)
    inventory = await stock.of_variant(variant_id, lock=True)
    if inventory is None:  # pragma: no cover - every variant has its inventory row
        raise VariantNotFoundError
    if inventory.on_hand + delta < inventory.reserved:
        raise StockBelowReservedError(
            f"On hand would be {inventory.on_hand + delta}, below the {inventory.reserved} "
            "units reserved for orders.",
            on_hand=inventory.on_hand,
            reserved=inventory.reserved,
        )
    inventory.on_hand += delta
    stock.record(
        StockMovement(
            product_id=product_id,
            variant_id=variant_id,
            on_hand_delta=delta,
            reason=StockReason.ADJUSTMENT,
            note=reason,
            actor=actor,
        )
    )
    await stock.flush()
    await announce(session, cache, [product_id], stock_only=True)
    return await inventory_of(session, product_id)
