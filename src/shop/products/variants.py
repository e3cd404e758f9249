"""Variant use cases: a product's options and variants written at its creation, and
variants added, changed and archived later.

Like the catalog's (shop.products.service), each takes the caller's session, flushes
and never commits. A variant write locks its product (``FOR NO KEY UPDATE``), so that
two writes to one product's variants are checked one after the other (combinations,
the last active variant); it touches the product, so the product's ``version`` (its
ETag) changes and its derived ``price`` (the lowest active variant price) is kept.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from shop.products.cache import CatalogCache
from shop.products.changes import announce
from shop.products.errors import (
    DuplicateError,
    InvalidVariantError,
    LastActiveVariantError,
    ProductNotFoundError,
    UnknownReferenceError,
    VariantNotFoundError,
    VersionMismatchError,
)
from shop.products.models import (
    Inventory,
    Product,
    ProductOption,
    ProductVariant,
    StockMovement,
    StockReason,
    VariantStatus,
)
from shop.products.options import Declared, combination_key, combination_problems, title_of
from shop.products.repositories import (
    ImageRepository,
    OptionRepository,
    ProductRepository,
    VariantRepository,
)
from shop.products.schemas import VariantIn, VariantUpdate

COMBINATION_INDEX = "uq_product_variants_active_combination"


def search_columns(variants: Sequence[VariantIn]) -> dict[str, Any]:
    """The product's search columns (migration e4f1a7c3d925) for these new variants, all
    active: set with the product's INSERT, they are what the triggers on variants and
    inventory compute, so those need not write the row again. The pairs are spelled
    as PostgreSQL prints ``jsonb_build_array(name, value)``, in code point order."""
    pairs: set[str] = set()
    stocked: set[str] = set()
    for variant in variants:
        mine = {json.dumps([k, v], ensure_ascii=False) for k, v in variant.options.items()}
        pairs |= mine
        if (variant.initial_stock or 0) > 0:
            stocked |= mine
    return {
        "max_price": max(variant.price for variant in variants),
        "stocked": any((variant.initial_stock or 0) > 0 for variant in variants),
        "option_pairs": sorted(pairs),
        "stocked_pairs": sorted(stocked),
    }


def declared(options: Sequence[ProductOption]) -> Declared:
    return [(option.name, option.values) for option in options]


async def _flush_variants(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if COMBINATION_INDEX in str(exc.orig):
            raise InvalidVariantError(
                "options", "another active variant has this combination"
            ) from exc
        raise DuplicateError("A variant with this SKU already exists.") from exc
    except StaleDataError as exc:  # a concurrent write got there first
        raise VersionMismatchError("The variant has changed since you read it.") from exc


def _new_variant(
    session: AsyncSession, product: Product, options: Declared, data: VariantIn, position: int
) -> ProductVariant:
    """The variant, added to the session (its stock: :func:`_add_stock`, once it is
    flushed: the unit of work does not order rows without relationships)."""
    variant = ProductVariant(
        id=uuid.uuid4(),
        product_id=product.id,
        sku=data.sku,
        title=title_of(options, data.options),
        options=dict(data.options),
        price=data.price,
        compare_at_price=data.compare_at_price,
        status=VariantStatus.ACTIVE,
        weight_grams=data.weight_grams,
        image_id=data.image_id,
        position=position,
    )
    session.add(variant)
    return variant


def _add_stock(session: AsyncSession, variant: ProductVariant, on_hand: int, actor: str) -> None:
    """The variant's inventory row, and its initial stock in the ledger."""
    session.add(
        Inventory(variant_id=variant.id, product_id=variant.product_id, on_hand=on_hand, reserved=0)
    )
    if on_hand:
        session.add(
            StockMovement(
                product_id=variant.product_id,
                variant_id=variant.id,
                on_hand_delta=on_hand,
                reason=StockReason.ADJUSTMENT,
                note="initial stock",
                actor=actor,
            )
        )


async def write_variants(
    session: AsyncSession,
    new: Sequence[tuple[Product, Declared, Sequence[VariantIn]]],
    actor: str,
) -> None:
    """New products' options and variants (checked already, see ProductIn), then their
    derived price; for several products at once, one flush per table for all of them.
    The product rows exist (flushed)."""
    made: list[tuple[ProductVariant, VariantIn]] = []
    for product, options, variants in new:
        for position, (name, values) in enumerate(options):
            session.add(
                ProductOption(
                    product_id=product.id, position=position, name=name, values=list(values)
                )
            )
        for data in variants:
            if data.image_id is not None:
                raise UnknownReferenceError("image_id", "a new product has no images yet")
        made += [
            (_new_variant(session, product, options, data, position), data)
            for position, data in enumerate(variants)
        ]
    await _flush_variants(session)
    for variant, data in made:
        _add_stock(session, variant, data.initial_stock, actor)
    await _flush_variants(session)
    for product, _, variants in new:
        product.price = min(variant.price for variant in variants)


async def _locked(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await ProductRepository(session).lock_for_edit(product_id)
    if product is None:
        raise ProductNotFoundError
    return product


async def touch(session: AsyncSession, product: Product) -> None:
    """The product's derived price again, and a new version (its ETag) whatever changed."""
    price = await VariantRepository(session).lowest_active_price(product.id)
    if price is not None:
        product.price = price
    product.updated_at = func.now()  # an UPDATE, hence a new version, even at the same price


async def _check_image(session: AsyncSession, product_id: uuid.UUID, image_id: uuid.UUID) -> None:
    if await ImageRepository(session).of_product(product_id, image_id) is None:
        raise UnknownReferenceError("image_id", "not an image of this product")


def _check_options(options: Declared, chosen: dict[str, str]) -> None:
    problems = [
        (".".join(map(str, path)), message)
        for path, message in combination_problems(options, chosen)
    ]
    if problems:
        raise InvalidVariantError(*problems[0], others=problems[1:])


def _check_unique(
    options: Declared, chosen: dict[str, str], others: Sequence[ProductVariant]
) -> None:
    key = combination_key(options, chosen)
    for other in others:
        if other.status == VariantStatus.ACTIVE and combination_key(options, other.options) == key:
            raise InvalidVariantError("options", f"variant {other.sku} has this combination")


async def add_variant(
    session: AsyncSession, cache: CatalogCache, actor: str, product_id: uuid.UUID, data: VariantIn
) -> ProductVariant:
    product = await _locked(session, product_id)
    options = declared(await OptionRepository(session).of_product(product_id))
    _check_options(options, data.options)
    existing = await VariantRepository(session).of_product(product_id)
    _check_unique(options, data.options, existing)
    if data.image_id is not None:
        await _check_image(session, product_id, data.image_id)
    position = max((v.position for v in existing), default=-1) + 1
    variant = _new_variant(session, product, options, data, position)
    await _flush_variants(session)
    _add_stock(session, variant, data.initial_stock, actor)
    await touch(session, product)
    await _flush_variants(session)
    await announce(session, cache, [product_id])
    return variant


async def _variant_of(
    session: AsyncSession, product_id: uuid.UUID, variant_id: uuid.UUID
) -> ProductVariant:
    variant = (await VariantRepository(session).fresh_by_id([variant_id])).get(variant_id)
    if variant is None or variant.product_id != product_id:
        raise VariantNotFoundError
    return variant


async def update_variant(
    session: AsyncSession,
    cache: CatalogCache,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    data: VariantUpdate,
    expected_version: int | None,
) -> ProductVariant:
    product = await _locked(session, product_id)
    variant = await _variant_of(session, product_id, variant_id)
    if expected_version is not None and expected_version != variant.version:
        raise VersionMismatchError("The variant has changed since you read it.")
    changes = data.model_dump(exclude_unset=True)
    old_sku = variant.sku
    others = await _others(session, product_id, variant)
    options = declared(await OptionRepository(session).of_product(product_id))
    chosen = data.options if data.options is not None else variant.options
    becomes_active = (data.status or variant.status) == VariantStatus.ACTIVE
    if data.options is not None or (becomes_active and variant.status != VariantStatus.ACTIVE):
        _check_options(options, chosen)  # an archived variant may name a value since removed
    if becomes_active and (data.options is not None or variant.status != VariantStatus.ACTIVE):
        _check_unique(options, chosen, others)
    if data.status == VariantStatus.ARCHIVED:
        _check_not_last(variant, others)
    if data.image_id is not None:
        await _check_image(session, product_id, data.image_id)
    for field, value in changes.items():
        if value is None and field not in {"compare_at_price", "weight_grams", "image_id"}:
            continue  # null means "leave as is" for fields that cannot be empty
        setattr(variant, field, value)
    if data.options is not None:
        variant.options = dict(data.options)
        variant.title = title_of(options, data.options)
    if data.sku is not None and not options and product.sku == old_sku:
        product.sku = data.sku  # a default variant carries its product's SKU
    await _flush_variants(session)
    await touch(session, product)
    await _flush_variants(session)
    await announce(session, cache, [product_id])
    return variant


async def _others(
    session: AsyncSession, product_id: uuid.UUID, variant: ProductVariant
) -> list[ProductVariant]:
    """The product's variants but ``variant``."""
    return [v for v in await VariantRepository(session).of_product(product_id) if v is not variant]


def _check_not_last(variant: ProductVariant, others: Sequence[ProductVariant]) -> None:
    if variant.status == VariantStatus.ACTIVE and not any(
        other.status == VariantStatus.ACTIVE for other in others
    ):
        raise LastActiveVariantError(
            "A product keeps at least one active variant; archive the product instead."
        )


async def archive_variant(
    session: AsyncSession, cache: CatalogCache, product_id: uuid.UUID, variant_id: uuid.UUID
) -> None:
    """Archived: no longer sold or shown to customers. Units it holds for orders stay
    held, and those orders can still commit or release them."""
    product = await _locked(session, product_id)
    variant = await _variant_of(session, product_id, variant_id)
    if variant.status == VariantStatus.ARCHIVED:
        return
    others = await _others(session, product_id, variant)
    _check_not_last(variant, others)
    variant.status = VariantStatus.ARCHIVED
    await _flush_variants(session)
    await touch(session, product)
    await _flush_variants(session)
    await announce(session, cache, [product_id])
