"""Queries of product images (their rows; the files are the media storage's)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select

from shop.products.models import ProductImage
from shop.products.repositories.base import ANY_OF_IDS, Repository

# A page's images (built once: see ANY_OF_IDS).
_OF_PRODUCTS = (
    select(ProductImage)
    .where(ProductImage.product_id == ANY_OF_IDS)
    .order_by(ProductImage.position, ProductImage.created_at)
)


class ImageRepository(Repository[ProductImage]):
    model = ProductImage

    async def last_position(self, product_id: uuid.UUID) -> int | None:
        position: int | None = await self.session.scalar(
            select(func.max(ProductImage.position)).where(ProductImage.product_id == product_id)
        )
        return position

    async def of_product(self, product_id: uuid.UUID, image_id: uuid.UUID) -> ProductImage | None:
        """The image, if it is one of this product's."""
        image: ProductImage | None = await self.session.scalar(
            select(ProductImage).where(
                ProductImage.id == image_id, ProductImage.product_id == product_id
            )
        )
        return image

    async def of_products(self, product_ids: Iterable[uuid.UUID]) -> list[ProductImage]:
        """The images of all these products, each product's in their order."""
        return list(await self.session.scalars(_OF_PRODUCTS, {"ids": list(product_ids)}))
