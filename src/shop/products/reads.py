"""Catalog reads as the API shows them: products with stock and images, pages of
the listing.

:func:`product_views` takes the caller's session. :func:`product_view` and
:func:`search_listing` run on a cache miss only (a hit needs no database), so
they take the sessionmaker and open their own session, which writes nothing: it is
closed, not committed (a commit costs a search the index answers alone a twentieth
of its CPU, and a read has nothing to commit).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import read_only
from shop.products.cache import Pin
from shop.products.models import Product, VariantStatus
from shop.products.presenters import MediaUrls, image_out, product_out, variant_out
from shop.products.repositories import (
    ImageRepository,
    OptionRepository,
    ProductRepository,
    VariantRepository,
)
from shop.products.schemas import (
    ImageOut,
    ProductOut,
)
from shop.products.search import KeptPage, ProductQuery, SearchBackend
from shop.products.service import find_product


async def product_views(
    session: AsyncSession,
    products: Sequence[Product],
    media: MediaUrls,
    *,
    archived_variants: bool = False,
) -> list[ProductOut]:
    """``products`` with their options, variants, stock and images, loaded in three
    queries for the whole page (never one per product). ``archived_variants``: shown
    too (to admins), else only the active ones."""
    ids = [product.id for product in products]
    if not ids:
        return []
    variants = await VariantRepository(session).with_stock(ids)
    options = await OptionRepository(session).of_products(ids)
    images: dict[uuid.UUID, list[ImageOut]] = defaultdict(list)
    for image in await ImageRepository(session).of_products(ids):
        images[image.product_id].append(image_out(image, media))
    return [
        product_out(
            p,
            options[p.id],
            [
                variant_out(variant, stock)
                for variant, stock in variants[p.id]
                if archived_variants or variant.status == VariantStatus.ACTIVE
            ],
            images[p.id],
        )
        for p in products
    ]


async def product_view(
    sessions: async_sessionmaker[AsyncSession],
    media: MediaUrls,
    id_or_slug: str,
    *,
    include_drafts: bool,
    pin: Pin,
) -> ProductOut:
    """One product as the API shows it. ``pin`` is called with its id before its stock
    is read (see :meth:`shop.products.cache.CatalogCache.get_or_load_product`)."""
    async with sessions() as session:
        product = await find_product(session, id_or_slug, include_drafts=include_drafts)
        # Before the stock is read (READ COMMITTED: a later statement, a later
        # snapshot): a stock change from now on makes this entry stale.
        await pin(product.id)
        [view] = await product_views(session, [product], media, archived_variants=include_drafts)
    return view


async def written_product(
    session: AsyncSession, media: MediaUrls, product_id: uuid.UUID
) -> ProductOut:
    """The product as a write in ``session`` has just left it (drafts included)."""
    product = await find_product(session, str(product_id), include_drafts=True)
    [view] = await product_views(session, [product], media, archived_variants=True)
    return view


async def search_listing(
    sessions: async_sessionmaker[AsyncSession],
    backend: SearchBackend,
    media: MediaUrls,
    query: ProductQuery,
) -> bytes:
    """A page of the listing, with its total and facets: ``ProductSearchOut``'s JSON."""
    async with sessions() as session:
        page = await backend.search(session, query)
        if page.kept is None:
            views = await product_views(session, page.products, media)
            items = [view.model_dump_json().encode() for view in views]
        else:
            items = await kept_views(session, page.kept, media)
    # ProductSearchOut's JSON, written directly: its fields are plain, and building and
    # serializing its models cost a search the index answers a twentieth of its CPU.
    rest = orjson.dumps(
        {
            "items": [],
            "total": page.total,
            "next_cursor": page.next_cursor,
            "facets": {
                "categories": [{"slug": f.slug, "count": f.count} for f in page.facets],
                "options": {
                    name: [{"value": v.value, "count": v.count} for v in values]
                    for name, values in page.option_facets.items()
                },
            },
        }
    )
    return with_items(rest, items)


async def kept_views(session: AsyncSession, kept: KeptPage, media: MediaUrls) -> list[bytes]:
    """The page's products as the API shows them: the views its backend keeps, and the
    others read here (and given to it to keep)."""
    found = {i: json for i in kept.ids if (json := kept.shelf.get(i)) is not None}
    if missing := [i for i in kept.ids if i not in found]:
        # Outside a transaction (two round trips fewer): a view newer than its version
        # is dropped by the catch-up that sees the write (mem_views).
        await read_only(session)
        versions = await kept.shelf.versions(session, missing)  # before the views
        products = await ProductRepository(session).in_order(missing)
        for view in await product_views(session, products, media):
            found[view.id] = view.model_dump_json().encode()
            kept.shelf.keep(view.id, versions.get(view.id), found[view.id])
    return [found[i] for i in kept.ids if i in found]


_NO_ITEMS = b'{"items":[]'


def with_items(listing: bytes, items: Sequence[bytes]) -> bytes:
    """``listing``, a ``ProductSearchOut``'s JSON with no items, with ``items`` (each a
    ``ProductOut``'s JSON) in its place: views serialized once, not once per page."""
    if not listing.startswith(_NO_ITEMS):
        raise ValueError("not a listing without items")
    return b'{"items":[' + b",".join(items) + b"]" + listing[len(_NO_ITEMS) :]
