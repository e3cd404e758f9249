"""`shop seed-demo [--products N]`: load the demo catalog into the products database.

The catalog is :func:`shop.cli.demo.demo_catalog` (deterministic: the same
catalog every time). It goes in through the products service's own use cases,
``create_category`` and ``create_products`` (``create_product`` for a batch, one
flush per table) over a :class:`Catalog`, and its
pictures through the upload path (:func:`process_upload`, then
:func:`store_product_image`), so everything a real write does happens here
too: search vectors, a ledger row for each initial stock, an outbox event per
product for the search index, and the read cache's invalidation in Redis.

Idempotent: categories that exist (by slug) and products that exist (by SKU)
are skipped, and a demo product gets its picture only if it has none, so a
second run creates nothing and changes nothing, and a run that was
interrupted is completed by the next one. ``--no-images`` skips the pictures
(for the benchmark's large catalogs); a later run without it adds them. A demo
product whose slug some other product already has is not created (and is
counted as such).

It starts only what it needs: the products database (the embedded
PostgreSQL when ``PRODUCTS_DATABASE_URL`` is unset, as ``shop migrate``
does), which it migrates first, and Redis for the cache invalidation: the
one at ``REDIS_URL``, or else the embedded Redis of the data directory, whose
cache a later ``shop up`` uses (entries live ``CACHE_TTL_SECONDS``; the bump
makes sure none from before the seed is served). Pictures go to the media
storage that ``STORAGE_BACKEND`` names, as the products service's uploads do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import ColumnElement, String, any_, bindparam, exists, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from shop.cli.config import CliSettings
from shop.cli.demo import DemoCatalog, DemoProduct, demo_catalog, demo_image
from shop.cli.progress import progress
from shop.cli.system import data_layer, migrate
from shop.kit.db import create_engine, create_sessionmaker, unit_of_work
from shop.products.cache import CatalogCache
from shop.products.config import ProductsSettings
from shop.products.image_service import store_product_image
from shop.products.images import ImageLimits, process_upload
from shop.products.models import Category, Product, ProductImage
from shop.products.schemas import CategoryIn, OptionIn, ProductIn, VariantIn
from shop.products.service import Catalog, create_category, create_products
from shop.products.storage import MediaStorage, create_media_storage

log = structlog.get_logger("shop.cli.seed")

ACTOR = "seed-demo"  # who the stock ledger says made the initial stock
PRODUCTS_PER_TRANSACTION = 200
IMAGE_TASKS = 4  # pictures drawn, processed and stored at once


@dataclass(frozen=True)
class SeedResult:
    categories_created: int
    categories_skipped: int
    products_created: int
    products_skipped: int
    images_created: int
    images_skipped: int
    slug_conflicts: int = 0
    images_drawn: bool = True  # False with --no-images: pictures were not looked at

    def summary(self) -> str:
        line = (
            f"Created {self.categories_created} categories, {self.products_created} products,"
            f" {self.images_created} images; skipped {self.categories_skipped} categories,"
            f" {self.products_skipped} products and {self.images_skipped} images that were"
            " already there"
        )
        if self.slug_conflicts:
            line += f"; {self.slug_conflicts} products not created: their slug is taken"
        if not self.images_drawn:
            line += "; no pictures drawn (--no-images)"
        return line + "."


def _among(column: InstrumentedAttribute[str], values: Iterable[str]) -> ColumnElement[bool]:
    """``column = ANY($1)`` with one array parameter, however many values there are."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(String)))


def _batches(items: Sequence[DemoProduct], size: int) -> Iterable[Sequence[DemoProduct]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Seeder:
    sessions: async_sessionmaker[AsyncSession]
    cache: CatalogCache
    media: MediaStorage
    settings: ProductsSettings

    def catalog(self) -> Catalog:
        return Catalog(self.cache, self.settings.currency, actor=ACTOR)

    async def categories(self, demo: DemoCatalog) -> tuple[dict[str, uuid.UUID], int]:
        """Ids of the demo categories by slug, and how many were created."""
        async with unit_of_work(self.sessions) as session:
            slugs = [category.slug for category in demo.categories]
            rows = await session.execute(
                select(Category.slug, Category.id).where(_among(Category.slug, slugs))
            )
            ids: dict[str, uuid.UUID] = dict(rows.tuples().all())
            created = 0
            for category in demo.categories:  # parents come first
                if category.slug in ids:
                    continue
                parent = ids[category.parent_slug] if category.parent_slug else None
                made = await create_category(
                    session,
                    self.catalog(),
                    CategoryIn(name=category.name, slug=category.slug, parent_id=parent),
                )
                ids[category.slug] = made.id
                created += 1
        return ids, created

    async def products(
        self, demo: DemoCatalog, categories: dict[str, uuid.UUID]
    ) -> tuple[int, int, int]:
        """(created, skipped because their SKU exists, not created because their slug is
        taken by another product)."""
        async with self.sessions() as session:
            skus = set(
                await session.scalars(
                    select(Product.sku).where(_among(Product.sku, (p.sku for p in demo.products)))
                )
            )
            slugs = set(
                await session.scalars(
                    select(Product.slug).where(
                        _among(Product.slug, (p.slug for p in demo.products))
                    )
                )
            )
        new = [p for p in demo.products if p.sku not in skus and p.slug not in slugs]
        conflicts = sum(1 for p in demo.products if p.sku not in skus and p.slug in slugs)
        with progress("demo products", len(new)) as advance:
            for batch in _batches(new, PRODUCTS_PER_TRANSACTION):
                async with unit_of_work(self.sessions) as session:
                    items = [_product_in(p, categories[p.category_slug]) for p in batch]
                    await create_products(session, self.catalog(), items)
                advance(len(batch))  # once committed
        return len(new), len(demo.products) - len(new) - conflicts, conflicts

    async def images(self, demo: DemoCatalog) -> tuple[int, int]:
        """Pictures for the demo products (by SKU) that have none: (created, skipped)."""
        by_sku = {product.sku: product for product in demo.products}
        async with self.sessions() as session:
            rows = await session.execute(
                select(Product.sku, Product.id).where(
                    _among(Product.sku, by_sku),
                    ~exists().where(ProductImage.product_id == Product.id),
                )
            )
            present = await session.scalar(
                select(func.count()).select_from(Product).where(_among(Product.sku, by_sku))
            )
        missing = sorted(rows.tuples())  # in SKU order
        limits = ImageLimits.from_settings(self.settings)
        queue: asyncio.Queue[tuple[str, uuid.UUID]] = asyncio.Queue()
        for item in missing:
            queue.put_nowait(item)

        async def work(advance: Callable[[int], None]) -> None:
            while not queue.empty():
                sku, product_id = queue.get_nowait()
                data = await asyncio.to_thread(demo_image, by_sku[sku])
                image = await process_upload(data, limits)  # as an upload is checked
                await store_product_image(self.sessions, self.media, self.cache, product_id, image)
                advance(1)

        try:
            with progress("demo pictures", len(missing)) as advance:
                async with asyncio.TaskGroup() as tasks:
                    for _ in range(IMAGE_TASKS):
                        tasks.create_task(work(advance))
        except ExceptionGroup as group:  # the first failure stopped them all: that one
            raise group.exceptions[0] from None
        return len(missing), (present or 0) - len(missing)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)


async def _seed(settings: ProductsSettings, demo: DemoCatalog, images: bool) -> SeedResult:
    engine = create_engine(settings)
    redis: Redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        async with create_media_storage(settings) as media:
            seeder = _Seeder(
                create_sessionmaker(engine),
                CatalogCache(redis, settings.cache_ttl_seconds),
                media,
                settings,
            )
            started = time.monotonic()
            categories, categories_created = await seeder.categories(demo)
            created, skipped, conflicts = await seeder.products(demo, categories)
            log.info("demo products loaded", created=created, seconds=_since(started))
            images_created = images_skipped = 0
            if images:
                started = time.monotonic()
                images_created, images_skipped = await seeder.images(demo)
                log.info("demo images stored", created=images_created, seconds=_since(started))
    finally:
        await redis.aclose()
        await engine.dispose()
    return SeedResult(
        categories_created=categories_created,
        categories_skipped=len(demo.categories) - categories_created,
        products_created=created,
        products_skipped=skipped,
        images_created=images_created,
        images_skipped=images_skipped,
        slug_conflicts=conflicts,
        images_drawn=images,
    )


def seed_demo(cli: CliSettings, products: int, *, images: bool = True) -> SeedResult:
    """Migrates the products database, then loads the first ``products`` products of the
    demo catalog (and all its categories) into it, and their pictures unless ``images``
    is false (``--no-images``: drawing them is most of the time a large catalog takes)."""
    with data_layer(cli, need_redis=True, services=["products"]) as env:
        migrate(env, ["products"])
        return seed_into(env, products, images=images)


def seed_into(env: dict[str, str], products: int, *, images: bool = True) -> SeedResult:
    """Loads the demo catalog into the migrated products database and the Redis that
    ``env`` names (``PRODUCTS_DATABASE_URL``, ``REDIS_URL``), as :func:`seed_demo`."""
    settings = ProductsSettings(
        PRODUCTS_DATABASE_URL=env["PRODUCTS_DATABASE_URL"], redis_url=env["REDIS_URL"]
    )
    result = asyncio.run(_seed(settings, demo_catalog(products), images))
    log.info("demo catalog seeded", **vars(result))
    return result


def _product_in(product: DemoProduct, category_id: uuid.UUID) -> ProductIn:
    """The demo product as an admin would post it: with its options and variants, or
    with its price and stock (one default variant)."""
    fields: dict[str, Any] = {
        "sku": product.sku,
        "slug": product.slug,
        "name": product.name,
        "description": product.description,
        "category_id": category_id,
        "attributes": product.attributes,
        "status": product.status,
    }
    if not product.variants:
        return ProductIn(**fields, price=product.price, initial_stock=product.initial_stock)
    return ProductIn(
        **fields,
        options=[OptionIn(name=name, values=list(values)) for name, values in product.options],
        variants=[
            VariantIn(
                sku=variant.sku,
                options=dict(variant.options),
                price=variant.price,
                initial_stock=variant.initial_stock,
            )
            for variant in product.variants
        ],
    )
