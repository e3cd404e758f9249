"""The carts' look-up of sellable units: their current price, names and stock, many at
once (shop.kit.contracts.sellables). Reads only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.contracts.sellable import SellableRef
from shop.kit.contracts.sellables import MissReason, SellableMiss, SellableOut, SellablesOut
from shop.products.models import Inventory, Product, ProductStatus, ProductVariant, VariantStatus
from shop.products.repositories.variants import VariantRepository


def _out(
    ref: int, variant: ProductVariant, product: Product, stock: Inventory | None
) -> SellableOut:
    return SellableOut(
        ref=ref,
        product_id=product.id,
        variant_id=variant.id,
        sku=variant.sku,
        name=product.name,
        variant_title=variant.title,
        unit_price=variant.price,
        currency=product.currency,
        available=0 if stock is None else stock.available,
        orderable=product.status == ProductStatus.ACTIVE and variant.status == VariantStatus.ACTIVE,
    )


async def look_up(session: AsyncSession, refs: Sequence[SellableRef]) -> SellablesOut:
    """Each reference's unit, in one query: by ``variant_id`` (of ``product_id`` when both
    are given), or by ``product_id`` alone the only active variant of an active product."""
    variant_ids = {ref.variant_id for ref in refs if ref.variant_id is not None}
    product_ids = {ref.product_id for ref in refs if ref.variant_id is None and ref.product_id}
    rows = await VariantRepository(session).sellable_rows(variant_ids, product_ids)
    by_variant = {variant.id: (variant, product, stock) for variant, product, stock in rows}
    active_of: dict[uuid.UUID, list[uuid.UUID]] = {}
    for variant, product, _ in rows:
        if variant.status == VariantStatus.ACTIVE and product.status == ProductStatus.ACTIVE:
            active_of.setdefault(product.id, []).append(variant.id)
    items: list[SellableOut] = []
    missing: list[SellableMiss] = []
    for index, ref in enumerate(refs):
        if ref.variant_id is not None:
            found = by_variant.get(ref.variant_id)
            if found is None or (ref.product_id is not None and found[1].id != ref.product_id):
                missing.append(SellableMiss(ref=index, reason=MissReason.UNKNOWN))
                continue
            items.append(_out(index, *found))
            continue
        assert ref.product_id is not None
        variants = active_of.get(ref.product_id, [])
        if len(variants) != 1:
            reason = MissReason.VARIANT_REQUIRED if variants else MissReason.UNKNOWN
            missing.append(SellableMiss(ref=index, reason=reason))
            continue
        items.append(_out(index, *by_variant[variants[0]]))
    return SellablesOut(items=items, missing=missing)
