"""Catalog use cases: categories and products (their variants: shop.products.variants;
stock: shop.products.stock).

Each takes the caller's ``session`` and a :class:`Catalog` (what a write needs
besides it) and plain inputs. They flush but never commit: the request's
session dependency commits once (the CLI's unit of work, for the demo seed).
Every write announces itself (:func:`shop.products.changes.announce`): the read
cache is invalidated after the commit (a stock adjustment only that product's
reads) and the search index hears of it through the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from shop.products.cache import CatalogCache
from shop.products.changes import announce
from shop.products.errors import (
    CategoryCycleError,
    CategoryInUseError,
    CategoryNotFoundError,
    DuplicateError,
    PriceDerivedError,
    ProductNotFoundError,
    UnknownReferenceError,
    VersionMismatchError,
)
from shop.products.models import Category, Product, ProductStatus, VariantStatus
from shop.products.option_changes import change_options
from shop.products.options import Declared
from shop.products.repositories import (
    CategoryRepository,
    OptionRepository,
    OutboxRepository,
    ProductRepository,
    Repository,
    VariantRepository,
)
from shop.products.schemas import CategoryIn, CategoryUpdate, ProductIn, ProductUpdate, VariantIn
from shop.products.search import CATEGORY_CHANGED
from shop.products.slugs import MAX_LENGTH, slugify
from shop.products.variants import search_columns, write_variants


@dataclass(frozen=True)
class Catalog:
    """What the catalog's writes need besides the session."""

    cache: CatalogCache
    currency: str
    actor: str = "system"


# --- categories ---------------------------------------------------------------------


async def _category(categories: CategoryRepository, category_id: uuid.UUID) -> Category:
    category = await categories.get(category_id)
    if category is None:
        raise CategoryNotFoundError
    return category


async def _parent(categories: CategoryRepository, parent_id: uuid.UUID | None) -> Category | None:
    if parent_id is None:
        return None
    parent = await categories.get(parent_id)
    if parent is None:
        raise UnknownReferenceError("parent_id", "no such category")
    return parent


async def _flush_unique(repository: Repository[Any], what: str) -> None:
    try:
        await repository.flush()
    except IntegrityError as exc:
        raise DuplicateError(f"A {what} with this slug or SKU already exists.") from exc


async def create_category(session: AsyncSession, catalog: Catalog, data: CategoryIn) -> Category:
    categories = CategoryRepository(session)
    parent = await _parent(categories, data.parent_id)
    category_id = uuid.uuid4()
    category = categories.add(
        Category(
            id=category_id,
            name=data.name,
            slug=data.slug or slugify(data.name),
            parent_id=parent.id if parent else None,
            path=f"{parent.path}/{category_id}" if parent else str(category_id),
        )
    )
    await _flush_unique(categories, "category")
    await announce(session, catalog.cache)
    return category


async def update_category(
    session: AsyncSession, catalog: Catalog, category_id: uuid.UUID, data: CategoryUpdate
) -> Category:
    categories = CategoryRepository(session)
    category = await _category(categories, category_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and data.name is not None:
        category.name = data.name
    if "slug" in changes and data.slug is not None:
        category.slug = data.slug
    if "parent_id" in changes and data.parent_id != category.parent_id:
        parent = await _parent(categories, data.parent_id)
        if parent is not None and (parent.path + "/").startswith(category.path + "/"):
            raise CategoryCycleError("A category cannot move under itself.")
        new_path = f"{parent.path}/{category.id}" if parent else str(category.id)
        category.parent_id = parent.id if parent else None
        # The whole subtree moves: every path below starts with the new prefix.
        await categories.move_subtree(category.path, new_path)
        category.path = new_path
    await _flush_unique(categories, "category")
    await announce(session, catalog.cache)
    # Products below it are indexed with its name and place in the tree.
    await OutboxRepository(session).put(CATEGORY_CHANGED, {"id": str(category.id)})
    return category


async def delete_category(session: AsyncSession, catalog: Catalog, category_id: uuid.UUID) -> None:
    categories = CategoryRepository(session)
    category = await _category(categories, category_id)
    if await categories.has_children(category.id) or await categories.has_products(category.id):
        raise CategoryInUseError("Move or delete its subcategories and products first.")
    await categories.delete(category)
    await categories.flush()
    await announce(session, catalog.cache)


async def list_categories(session: AsyncSession) -> list[Category]:
    return await CategoryRepository(session).all_by_path()


# --- products -----------------------------------------------------------------------


async def _unique_slug(products: ProductRepository, base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` ... whichever is free."""
    taken = await products.slugs_starting(base[: MAX_LENGTH - 8])
    if base not in taken:
        return base
    n = 2
    while f"{base[: MAX_LENGTH - 8]}-{n}" in taken:
        n += 1
    return f"{base[: MAX_LENGTH - 8]}-{n}"


async def _check_category(session: AsyncSession, category_id: uuid.UUID | None) -> None:
    if category_id is not None and await CategoryRepository(session).get(category_id) is None:
        raise UnknownReferenceError("category_id", "no such category")


async def create_product(session: AsyncSession, catalog: Catalog, data: ProductIn) -> Product:
    """The product with its options and variants; without ``variants``, one default
    variant carrying its SKU, price and initial stock."""
    await _check_unique_names(session, data)
    [product] = await create_products(session, catalog, [data])
    return product


async def _check_unique_names(session: AsyncSession, data: ProductIn) -> None:
    """A SKU or slug already taken, or a variant SKU twice in the request: the 409 names
    each field (``sku``, ``variants.2.sku``) so a form can show it next to its input.
    The unique indexes still decide when two requests race for a name."""
    errors = [
        {"field": field, "message": f"another product already has this {name}"}
        for found_sku, found_slug in await ProductRepository(session).holding(data.sku, data.slug)
        for field, name, taken in (
            ("sku", "SKU", found_sku == data.sku),
            ("slug", "slug", found_slug == data.slug),
        )
        if taken
    ]
    # Without variants, the product's SKU is its default variant's too.
    fields = (
        [(f"variants.{i}.sku", v.sku) for i, v in enumerate(data.variants)]
        if data.variants
        else [("sku", data.sku)]
    )
    taken_skus = await VariantRepository(session).taken_skus(sku for _, sku in fields)
    seen: set[str] = set()
    for field, sku in fields:
        if (sku in taken_skus or sku in seen) and field not in {e["field"] for e in errors}:
            where = "another variant" if sku in taken_skus else "a variant above"
            errors.append({"field": field, "message": f"{where} has this SKU"})
        seen.add(sku)
    if errors:
        what = "product" if errors[0]["field"] in ("sku", "slug") else "variant"
        raise DuplicateError(f"A {what} with this slug or SKU already exists.", errors=errors)


async def create_products(
    session: AsyncSession, catalog: Catalog, items: Sequence[ProductIn]
) -> list[Product]:
    """Several products as :func:`create_product` makes each, with one flush per table
    for all of them (the demo seed loads thousands). A duplicate SKU or slug refuses
    them all; so does a slug left to be made up that two of them would share."""
    products = ProductRepository(session)
    for category_id in dict.fromkeys(data.category_id for data in items):
        await _check_category(session, category_id)
    new: list[tuple[Product, Declared, Sequence[VariantIn]]] = []
    for data in items:
        variants = data.variants
        if variants is None:
            assert data.price is not None  # ProductIn requires it without variants
            variants = [
                VariantIn(sku=data.sku, price=data.price, initial_stock=data.initial_stock or 0)
            ]
        product = products.add(
            Product(
                sku=data.sku,
                slug=data.slug or await _unique_slug(products, slugify(data.name)),
                name=data.name,
                description=data.description,
                price=min(variant.price for variant in variants),
                currency=catalog.currency,
                category_id=data.category_id,
                attributes=data.attributes,
                status=data.status,
                **search_columns(variants),
            )
        )
        new.append((product, [(option.name, option.values) for option in data.options], variants))
    await _flush_unique(products, "product")
    await write_variants(session, new, catalog.actor)
    await announce(session, catalog.cache, [product.id for product, _, _ in new])
    return [product for product, _, _ in new]


async def find_product(
    session: AsyncSession, id_or_slug: str, *, include_drafts: bool = False
) -> Product:
    """A product by id or slug. Archived ones stay readable (orders refer to them);
    drafts only for those who may see them."""
    product = await ProductRepository(session).by_id_or_slug(id_or_slug)
    if product is None or (product.status == ProductStatus.DRAFT and not include_drafts):
        raise ProductNotFoundError
    return product


async def _locked_product(products: ProductRepository, product_id: uuid.UUID) -> Product:
    product = await products.lock_for_edit(product_id)
    if product is None:
        raise ProductNotFoundError
    return product


async def update_product(
    session: AsyncSession,
    catalog: Catalog,
    product_id: uuid.UUID,
    data: ProductUpdate,
    expected_version: int | None,
) -> Product:
    products = ProductRepository(session)
    product = await _locked_product(products, product_id)
    if expected_version is not None and expected_version != product.version:
        raise VersionMismatchError("The product has changed since you read it.")
    changes = data.model_dump(exclude_unset=True)
    if "category_id" in changes:
        await _check_category(session, data.category_id)
    if data.price is not None or data.sku is not None:
        await _default_variant_follows(session, product, data)
    if data.options is not None:
        await change_options(session, product, data.options)
    for field, value in changes.items():
        if field == "options":
            continue  # written above, with the variants that follow
        if value is None and field != "category_id":
            continue  # null means "leave as is" for fields that cannot be empty
        setattr(product, field, value)
    try:
        await _flush_unique(products, "product")
    except StaleDataError as exc:  # a concurrent write got there first
        raise VersionMismatchError("The product has changed since you read it.") from exc
    await announce(session, catalog.cache, [product.id])
    return product


async def _default_variant_follows(
    session: AsyncSession, product: Product, data: ProductUpdate
) -> None:
    """A product without options sells one variant: its price and SKU follow the
    product's. With options, the price is derived (a 422) and the SKU is the product's own."""
    has_options = bool(await OptionRepository(session).of_product(product.id))
    active = [
        variant
        for variant in await VariantRepository(session).of_product(product.id)
        if variant.status == VariantStatus.ACTIVE
    ]
    if data.price is not None and (has_options or len(active) != 1):
        raise PriceDerivedError(
            "The price is the lowest of the variants' prices; change a variant's price."
        )
    if has_options or len(active) != 1:
        return
    [variant] = active
    if data.price is not None:
        variant.price = data.price
    if data.sku is not None and variant.sku == product.sku:
        variant.sku = data.sku


async def archive_product(session: AsyncSession, catalog: Catalog, product_id: uuid.UUID) -> None:
    products = ProductRepository(session)
    product = await _locked_product(products, product_id)
    if product.status != ProductStatus.ARCHIVED:
        product.status = ProductStatus.ARCHIVED
        await products.flush()
        await announce(session, catalog.cache, [product.id])
