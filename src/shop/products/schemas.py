"""Request and response bodies of the products API. Unknown fields are refused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shop.kit.validation import JsonInt, StrictInput
from shop.products.models import ProductStatus

MAX_ATTRIBUTES_BYTES = 16 * 1024
Slug = Annotated[str, Field(min_length=1, max_length=140, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Price = Annotated[JsonInt, Field(ge=0, le=10**12, description="Minor units: 1999 is 19.99")]


def _bounded_attributes(value: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits: not storable as it was sent
        raise ValueError("attributes must hold integers of at most 64 bits") from None
    if len(encoded) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes must encode to at most {MAX_ATTRIBUTES_BYTES} bytes")
    return value


Attributes = Annotated[dict[str, Any], AfterValidator(_bounded_attributes)]


class Strict(StrictInput):
    model_config = ConfigDict(extra="forbid")


class CategoryIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    slug: Slug | None = None
    parent_id: uuid.UUID | None = None


class CategoryUpdate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    slug: Slug | None = None
    parent_id: uuid.UUID | None = None


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    parent_id: uuid.UUID | None


class CategoryList(BaseModel):
    items: list[CategoryOut]


class ProductIn(Strict):
    sku: Sku
    slug: Slug | None = None
    name: Name
    description: Annotated[str, Field(max_length=20_000)] = ""
    price: Price
    category_id: uuid.UUID | None = None
    attributes: Attributes = Field(default_factory=dict)
    status: ProductStatus = ProductStatus.DRAFT
    initial_stock: Annotated[JsonInt, Field(ge=0, le=10**9)] = 0


class ProductUpdate(Strict):
    sku: Sku | None = None
    slug: Slug | None = None
    name: Name | None = None
    description: Annotated[str, Field(max_length=20_000)] | None = None
    price: Price | None = None
    category_id: uuid.UUID | None = None
    attributes: Attributes | None = None
    status: ProductStatus | None = None


class ImageOut(BaseModel):
    id: uuid.UUID
    url: str
    thumbnail_url: str
    width: int
    height: int


class ProductOut(BaseModel):
    id: uuid.UUID
    sku: str
    slug: str
    name: str
    description: str
    price: int
    currency: str
    category_id: uuid.UUID | None
    attributes: dict[str, Any]
    status: ProductStatus
    available: int
    images: list[ImageOut]
    version: int
    created_at: datetime
    updated_at: datetime


class CategoryCount(BaseModel):
    slug: str
    count: int


class Facets(BaseModel):
    categories: list[CategoryCount]


class ProductSearchOut(BaseModel):
    items: list[ProductOut]
    total: int
    next_cursor: str | None
    facets: Facets


class InventoryOut(BaseModel):
    on_hand: int
    reserved: int
    available: int


class AdjustmentIn(Strict):
    delta: Annotated[JsonInt, Field(ge=-(10**9), le=10**9)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
