"""Products as the API shows them: with stock and images, loaded in two queries
for a whole page (never one per product)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shop.products.models import Inventory, Product, ProductImage
from shop.products.schemas import ImageOut, ProductOut


class MediaUrls(Protocol):
    """What presenting needs of the media storage (see shop.products.storage)."""

    def url(self, key: str) -> str: ...


async def product_views(
    session: AsyncSession, products: Sequence[Product], media: MediaUrls
) -> list[ProductOut]:
    ids = [product.id for product in products]
    if not ids:
        return []
    stock = {
        row.product_id: row.on_hand - row.reserved
        for row in await session.scalars(select(Inventory).where(Inventory.product_id.in_(ids)))
    }
    images: dict[uuid.UUID, list[ImageOut]] = defaultdict(list)
    query = (
        select(ProductImage)
        .where(ProductImage.product_id.in_(ids))
        .order_by(ProductImage.position, ProductImage.created_at)
    )
    for image in await session.scalars(query):
        images[image.product_id].append(
            ImageOut(
                id=image.id,
                url=media.url(image.storage_key),
                thumbnail_url=media.url(image.thumbnail_key),
                width=image.width,
                height=image.height,
            )
        )
    return [
        ProductOut(
            id=p.id,
            sku=p.sku,
            slug=p.slug,
            name=p.name,
            description=p.description,
            price=p.price,
            currency=p.currency,
            category_id=p.category_id,
            attributes=p.attributes,
            status=p.status,
            available=stock.get(p.id, 0),
            images=images[p.id],
            version=p.version,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )
        for p in products
    ]
