"""Rows as the API shows them: one mapping per response type, nothing else builds them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shop.products.models import (
    Inventory,
    Product,
    ProductImage,
    ProductOption,
    ProductVariant,
    VariantStatus,
)
from shop.products.schemas import ImageOut, OptionOut, ProductOut, VariantOut


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


def variant_out(variant: ProductVariant, stock: Inventory | None) -> VariantOut:
    return VariantOut(
        id=variant.id,
        sku=variant.sku,
        title=variant.title,
        options=variant.options,
        price=variant.price,
        compare_at_price=variant.compare_at_price,
        available=stock.on_hand - stock.reserved if stock is not None else 0,
        status=variant.status,
        image_id=variant.image_id,
        weight_grams=variant.weight_grams,
        version=variant.version,
    )


def product_out(
    product: Product,
    options: Sequence[ProductOption],
    variants: Sequence[VariantOut],
    images: Sequence[ImageOut],
) -> ProductOut:
    """``price`` and ``available`` over the active ones of ``variants``."""
    active = [variant for variant in variants if variant.status == VariantStatus.ACTIVE]
    return ProductOut(
        id=product.id,
        sku=product.sku,
        slug=product.slug,
        name=product.name,
        description=product.description,
        price=min((v.price for v in active), default=product.price),
        currency=product.currency,
        category_id=product.category_id,
        attributes=product.attributes,
        status=product.status,
        available=sum(variant.available for variant in active),
        images=list(images),
        options=[OptionOut(name=option.name, values=option.values) for option in options],
        variants=list(variants),
        version=product.version,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )
