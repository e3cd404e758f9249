"""Request and response bodies of the products API. Unknown fields are refused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Self

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shop.kit.validation import FieldProblem, JsonInt, StrictInput, invalid_fields
from shop.products.models import ProductStatus, VariantStatus
from shop.products.options import (
    MAX_OPTIONS,
    MAX_VALUES,
    MAX_VARIANTS,
    option_problems,
    variant_problems,
)

MAX_ATTRIBUTES_BYTES = 16 * 1024
Slug = Annotated[str, Field(min_length=1, max_length=140, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Price = Annotated[JsonInt, Field(ge=0, le=10**12, description="Minor units: 1999 is 19.99")]
Stock = Annotated[JsonInt, Field(ge=0, le=10**9)]
Weight = Annotated[JsonInt, Field(ge=0, le=10**8, description="Grams")]
OptionName = Annotated[str, Field(min_length=1, max_length=50)]
OptionValue = Annotated[str, Field(min_length=1, max_length=100)]


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


class OptionIn(Strict):
    name: OptionName
    values: Annotated[list[OptionValue], Field(min_length=1, max_length=MAX_VALUES)]


class VariantIn(Strict):
    sku: Sku
    options: dict[OptionName, OptionValue] = Field(default_factory=dict)
    price: Price
    compare_at_price: Price | None = None
    initial_stock: Stock = 0
    weight_grams: Weight | None = None
    image_id: uuid.UUID | None = None


class VariantUpdate(Strict):
    sku: Sku | None = None
    options: dict[OptionName, OptionValue] | None = None
    price: Price | None = None
    compare_at_price: Price | None = None
    weight_grams: Weight | None = None
    image_id: uuid.UUID | None = None
    status: VariantStatus | None = None


class ProductIn(Strict):
    """A product; with ``variants`` (and ``options``), its sellable units, else one
    default variant carrying ``sku``, ``price`` and ``initial_stock``."""

    sku: Sku
    slug: Slug | None = None
    name: Name
    description: Annotated[str, Field(max_length=20_000)] = ""
    price: Price | None = None
    category_id: uuid.UUID | None = None
    attributes: Attributes = Field(default_factory=dict)
    status: ProductStatus = ProductStatus.DRAFT
    initial_stock: Stock | None = None
    options: Annotated[list[OptionIn], Field(max_length=MAX_OPTIONS)] = Field(default_factory=list)
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=MAX_VARIANTS)] | None = None

    @model_validator(mode="after")
    def _variants_or_price(self) -> Self:
        """Every problem at its field (``variants.2.options.Size``), all at once."""
        problems: list[FieldProblem] = []
        if self.variants is None:
            if self.price is None:
                problems.append((("price",), "price is required for a product without variants"))
            if self.options:
                problems.append((("options",), "options need variants that name their values"))
        else:
            if self.price is not None:
                problems.append(
                    (("price",), "price is derived from the variants; give each variant its price")
                )
            if self.initial_stock is not None:
                problems.append(
                    (
                        ("initial_stock",),
                        "with variants, stock is given per variant (initial_stock)",
                    )
                )
            problems += variant_problems(
                [(o.name, o.values) for o in self.options], [v.options for v in self.variants]
            )
        if problems:
            raise invalid_fields(type(self).__name__, problems)
        return self


class OptionChange(Strict):
    """One of the product's options as a change of options wants it (see
    ``options.plan_options_change``): ``values`` is the whole new list, in order."""

    name: OptionName
    values: Annotated[list[OptionValue], Field(min_length=1, max_length=MAX_VALUES)]
    renamed_from: OptionName | None = Field(
        default=None, description="The option's current name, when the change renames it"
    )
    renamed_values: dict[OptionValue, OptionValue] = Field(
        default_factory=dict,
        description="Current value -> new value (which is in values); variants follow",
    )
    initial_value: OptionValue | None = Field(
        default=None, description="For a new option: the value every existing variant takes"
    )

    @model_validator(mode="after")
    def _among_the_values(self) -> Self:
        if self.initial_value is not None and self.initial_value not in self.values:
            raise ValueError(f"initial_value {self.initial_value!r} is not one of the values")
        for old, new in self.renamed_values.items():
            if new not in self.values:
                raise ValueError(f"{old!r} is renamed to {new!r}, which is not one of the values")
        return self


def _well_formed(options: list[OptionChange]) -> list[OptionChange]:
    problems = option_problems([(option.name, option.values) for option in options])
    if problems:
        raise ValueError("; ".join(message for _, message in problems))
    return options


OptionChanges = Annotated[
    list[OptionChange], Field(max_length=MAX_OPTIONS), AfterValidator(_well_formed)
]


class ProductUpdate(Strict):
    sku: Sku | None = None
    slug: Slug | None = None
    name: Name | None = None
    description: Annotated[str, Field(max_length=20_000)] | None = None
    price: Price | None = None
    category_id: uuid.UUID | None = None
    attributes: Attributes | None = None
    status: ProductStatus | None = None
    options: OptionChanges | None = Field(
        default=None,
        description="The product's options as they should be, in order (see docs/variants.md)",
    )


class ImageOut(BaseModel):
    id: uuid.UUID
    url: str
    thumbnail_url: str
    width: int
    height: int


class OptionOut(BaseModel):
    name: str
    values: list[str]


class VariantOut(BaseModel):
    id: uuid.UUID
    sku: str
    title: str
    options: dict[str, str]
    price: int
    compare_at_price: int | None
    available: int
    status: VariantStatus
    image_id: uuid.UUID | None
    weight_grams: int | None
    version: int


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
    options: list[OptionOut]
    variants: list[VariantOut]
    version: int
    created_at: datetime
    updated_at: datetime


class CategoryCount(BaseModel):
    slug: str
    count: int


class OptionValueCount(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    categories: list[CategoryCount]
    # Option name -> its values among the results' active variants, each with the
    # number of products choosing it would find (see docs/search.md).
    options: dict[str, list[OptionValueCount]]


class ProductSearchOut(BaseModel):
    items: list[ProductOut]
    total: int
    next_cursor: str | None
    facets: Facets


class VariantInventoryOut(BaseModel):
    variant_id: uuid.UUID
    sku: str
    on_hand: int
    reserved: int
    available: int


class InventoryOut(BaseModel):
    """A product's stock: the sums over its variants, then each variant's."""

    on_hand: int
    reserved: int
    available: int
    variants: list[VariantInventoryOut]


class LowStockItemOut(BaseModel):
    product_id: uuid.UUID
    product_name: str
    product_status: ProductStatus
    variant_id: uuid.UUID
    sku: str
    title: str = Field(description='"M / Red"; "" for a default variant')
    on_hand: int
    reserved: int
    available: int


class LowStockPage(BaseModel):
    items: list[LowStockItemOut]
    next_cursor: str | None


class AdjustmentIn(Strict):
    delta: Annotated[JsonInt, Field(ge=-(10**9), le=10**9)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    variant_id: uuid.UUID | None = Field(
        default=None, description="Required unless the product has a single active variant"
    )
