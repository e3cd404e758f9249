"""The products service's internal look-up of sellable units (``/internal/v1/sellables``).

Carts read the catalog's current price, names and availability of all their lines in
one call: ``POST`` with the lines' references (a variant, or the product of a
single-variant product) answers each one found, with its position in the request, and
why the others were not (``unknown``, or ``variant-required`` for a product named
alone that has several active variants). Archived variants and products are found,
with ``orderable`` false, so a cart can say why its line can't be bought.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shop.kit.contracts.sellable import SellableRef

PATH = "/internal/v1/sellables"
MAX_REFS = 100


class SellableRefIn(SellableRef):
    model_config = ConfigDict(extra="forbid")


class SellablesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refs: Annotated[list[SellableRefIn], Field(min_length=1, max_length=MAX_REFS)]


class SellableOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: int = Field(description="The position of its reference in the request")
    product_id: uuid.UUID
    variant_id: uuid.UUID
    sku: str
    name: str = Field(description="The product's name")
    variant_title: str = Field(default="", description='"M / Red"; "" for a default variant')
    unit_price: int = Field(description="Minor units, the catalog's current price")
    currency: str
    available: int = Field(description="Units on hand not reserved")
    orderable: bool = Field(description="The product and the variant are active")


class MissReason(enum.StrEnum):
    UNKNOWN = "unknown"
    VARIANT_REQUIRED = "variant-required"


class SellableMiss(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: int
    reason: MissReason


class SellablesOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[SellableOut]
    missing: list[SellableMiss] = Field(default_factory=list)
