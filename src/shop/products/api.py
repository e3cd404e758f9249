"""Routes of the catalog, under ``/api/v1``: parse, call a use case, respond.

The listing (``GET /products``) lives in api_search.py, images in
api_images.py and the internal reservation API in api_internal.py.

Transactions: a write takes the request's ``Session`` and hands it to its use
case, which only flushes; the session dependency commits once, after the
handler and before the response. A product read may be served from the cache,
so its use case (:func:`shop.products.reads.product_view`) opens a unit of work
of its own on a miss. Nothing here commits.
"""

from __future__ import annotations

import re
import uuid
import zlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import Session
from shop.kit.errors import problem_responses
from shop.kit.identity import AdminUser, OptionalUser
from shop.kit.validation import NO_NUL
from shop.products import reads, service, stock
from shop.products.cache import CatalogCache, Pin
from shop.products.schemas import (
    AdjustmentIn,
    CategoryIn,
    CategoryList,
    CategoryOut,
    CategoryUpdate,
    InventoryOut,
    LowStockPage,
    ProductIn,
    ProductOut,
    ProductUpdate,
)
from shop.products.service import Catalog

router = APIRouter(prefix="/api/v1", tags=["catalog"])
JSON = "application/json"


def get_catalog(request: Request, identity: OptionalUser) -> Catalog:
    return Catalog(
        cache=request.app.state.cache,
        currency=request.app.state.settings.currency,
        actor=f"user:{identity.user_id}" if identity else "system",
    )


CatalogContext = Annotated[Catalog, Depends(get_catalog)]


def etag(view: ProductOut) -> str:
    """The version, and the stock: a stock change alters the read without a new version.
    With several variants, a digest of each one's stock too (the sum may stay the same
    while units move between variants)."""
    if len(view.variants) <= 1:
        return f'"v{view.version}.{view.available}"'
    levels = ",".join(f"{variant.id}:{variant.available}" for variant in view.variants)
    return f'"v{view.version}.{view.available}.{zlib.crc32(levels.encode()):08x}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header names (``"v3.7"``, ``W/"v3"``); ``*`` or none: any."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = re.fullmatch(r'\s*(?:W/)?"v(\d{1,9})(?:\.\d{1,10}(?:\.[0-9a-f]{8})?)?"\s*', if_match)
    return int(match.group(1)) if match else -1  # an unknown tag matches no version


# --- categories ---------------------------------------------------------------------


@router.get("/categories", summary="Every category, as a flat list with parent ids")
async def list_categories(session: Session) -> CategoryList:
    categories = await service.list_categories(session)
    return CategoryList(
        items=[CategoryOut.model_validate(c, from_attributes=True) for c in categories]
    )


@router.post("/categories", status_code=201, responses=problem_responses(401, 403, 409, 422))
async def create_category(
    body: CategoryIn, _: AdminUser, session: Session, catalog: CatalogContext
) -> CategoryOut:
    category = await service.create_category(session, catalog, body)
    return CategoryOut.model_validate(category, from_attributes=True)


@router.patch("/categories/{category_id}", responses=problem_responses(401, 403, 404, 409, 422))
async def update_category(
    category_id: uuid.UUID,
    body: CategoryUpdate,
    _: AdminUser,
    session: Session,
    catalog: CatalogContext,
) -> CategoryOut:
    category = await service.update_category(session, catalog, category_id, body)
    return CategoryOut.model_validate(category, from_attributes=True)


@router.delete(
    "/categories/{category_id}", status_code=204, responses=problem_responses(401, 403, 404, 409)
)
async def delete_category(
    category_id: uuid.UUID, _: AdminUser, session: Session, catalog: CatalogContext
) -> Response:
    await service.delete_category(session, catalog, category_id)
    return Response(status_code=204)


# --- products -----------------------------------------------------------------------


@router.get(
    "/products/{id_or_slug}",
    response_model=ProductOut,
    responses={**problem_responses(401, 404), 304: {"description": "Not modified"}},
)
async def get_product(
    id_or_slug: Annotated[str, Path(pattern=NO_NUL)],
    request: Request,
    identity: OptionalUser,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    is_admin = identity is not None and identity.is_admin

    async def load(pin: Pin) -> bytes:
        # A database session only when the cache misses: a hit needs none.
        view = await reads.product_view(
            request.app.state.sessionmaker,
            request.app.state.media,
            id_or_slug,
            include_drafts=is_admin,
            pin=pin,
        )
        # The ETag is cached in front of the body: a hit parses nothing.
        return etag(view).encode() + b"\n" + view.model_dump_json().encode()

    cache_key = f"product:{id_or_slug}:{'admin' if is_admin else 'public'}:tagged"
    cache: CatalogCache = request.app.state.cache
    cached: bytes = await cache.get_or_load_product(cache_key, load)
    raw_tag, _, body = cached.partition(b"\n")
    tag = raw_tag.decode()
    if if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type=JSON, headers={"ETag": tag})


async def _view(request: Request, session: AsyncSession, product_id: uuid.UUID) -> Response:
    view = await reads.written_product(session, request.app.state.media, product_id)
    return Response(view.model_dump_json(), media_type=JSON, headers={"ETag": etag(view)})


@router.post(
    "/products",
    status_code=201,
    response_model=ProductOut,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_product(
    body: ProductIn, request: Request, _: AdminUser, session: Session, catalog: CatalogContext
) -> Response:
    product = await service.create_product(session, catalog, body)
    response = await _view(request, session, product.id)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/products/{product.id}"
    return response


@router.patch(
    "/products/{product_id}",
    response_model=ProductOut,
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def update_product(
    product_id: uuid.UUID,
    body: ProductUpdate,
    request: Request,
    _: AdminUser,
    session: Session,
    catalog: CatalogContext,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    await service.update_product(session, catalog, product_id, body, expected_version(if_match))
    return await _view(request, session, product_id)


@router.delete(
    "/products/{product_id}", status_code=204, responses=problem_responses(401, 403, 404)
)
async def delete_product(
    product_id: uuid.UUID, _: AdminUser, session: Session, catalog: CatalogContext
) -> Response:
    await service.archive_product(session, catalog, product_id)
    return Response(status_code=204)


# --- stock --------------------------------------------------------------------------


@router.get("/products/{product_id}/inventory", responses=problem_responses(401, 403, 404))
async def get_inventory(product_id: uuid.UUID, _: AdminUser, session: Session) -> InventoryOut:
    return await stock.inventory_of(session, product_id)


@router.get("/inventory/low-stock", responses=problem_responses(400, 401, 403))
async def low_stock(
    _: AdminUser,
    session: Session,
    threshold: Annotated[int, Query(ge=0, le=1_000_000)] = 5,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> LowStockPage:
    """Variants with at most ``threshold`` units available (active, of a product not
    archived), fewest first, paged with cursors."""
    return await stock.low_stock(session, threshold, limit, cursor)


@router.post(
    "/products/{product_id}/inventory/adjustments",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def adjust_inventory(
    product_id: uuid.UUID,
    body: AdjustmentIn,
    _: AdminUser,
    session: Session,
    catalog: CatalogContext,
) -> InventoryOut:
    return await stock.adjust_stock(
        session,
        catalog.cache,
        catalog.actor,
        product_id,
        body.variant_id,
        body.delta,
        body.reason,
    )
