"""Rows as the API shows them: one mapping per response type, nothing else builds them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shop.products.models import Inventory, Product, ProductImage
from shop.products.schemas import ImageOut, InventoryOut, ProductOut


class MediaUrls(Protocol):
    """What presenting needs of the media storage (see shop.products.storage)."""

    def url(self, key: str) -> str: ...


def image_out(image: ProductImage, media: MediaUrls) -> ImageOut:
    return ImageOut(
        id=image.id,
        url=media.url(image.storage_key),
        thumbnail_url=media.url(image.thumbnail_key),
        width=image.width,
        height=image.height,
    )


def product_out(product: Product, available: int, images: Sequence[ImageOut]) -> ProductOut:
    return ProductOut(
        id=product.id,
        sku=product.sku,
        slug=product.slug,
        name=product.name,
        description=product.description,
        price=product.price,
        currency=product.currency,
        category_id=product.category_id,
        attributes=product.attributes,
        status=product.status,
        available=available,
        images=list(images),
        version=product.version,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def inventory_out(inventory: Inventory) -> InventoryOut:
    return InventoryOut.model_validate(inventory, from_attributes=True)
