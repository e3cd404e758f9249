"""How a request names one sellable unit of the catalog: a variant by ``variant_id``,
or by ``product_id`` alone the only active variant of a single-variant product.

The orders service's public bodies (order items, and cart lines to come) and the
products service's internal reservation lines name units alike, so they share it.
"""

from __future__ import annotations

import uuid
from typing import Self

from pydantic import BaseModel, model_validator

__all__ = ["SellableRef"]


class SellableRef(BaseModel):
    """``variant_id``, or ``product_id`` for a product with a single variant; with both,
    the variant must be one of that product's."""

    product_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _names_something(self) -> Self:
        if self.product_id is None and self.variant_id is None:
            raise ValueError(
                "name the variant_id (or the product_id of a product with a single variant)"
            )
        return self

    @property
    def key(self) -> tuple[str, uuid.UUID]:
        """What is named: the variant, else the product (two lines naming one unit by
        different keys are told apart by the products service, which knows both)."""
        if self.variant_id is not None:
            return ("variant", self.variant_id)
        assert self.product_id is not None
        return ("product", self.product_id)
