"""``GET /api/v1/products``: search and list the catalog.

Anyone lists active products. ``status=draft`` or ``status=archived`` is for
admins: without a token it is a 401, with a non-admin's token a 403 (asking
explicitly for what one may not see is an error, not silently another answer);
``status=active`` is allowed to everyone.

Pages are cached in the catalog cache under the normalized query (status
included), so every spelling of one query shares an entry; every catalog write
invalidates the cache after it commits. Pages show stock (``available``, the
``in_stock`` filter): after a stock change (reservations ...) a cached page may
be served for up to 2 s more (``cache.LISTING_STOCK_STALENESS_SECONDS``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from shop.kit.db import unit_of_work
from shop.kit.errors import problem_responses
from shop.kit.identity import AuthenticationRequiredError, ForbiddenError, OptionalUser
from shop.products.cache import CatalogCache
from shop.products.models import ProductStatus
from shop.products.presenters import product_views
from shop.products.schemas import ProductOut
from shop.products.search import ProductQuery, SearchBackend

router = APIRouter(prefix="/api/v1", tags=["catalog"])


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


def _problems(**statuses: str) -> dict[int | str, dict[str, Any]]:
    return problem_responses(descriptions={int(key[1:]): text for key, text in statuses.items()})


@router.get(
    "/products",
    summary="Search and list products",
    description=(
        "Typo-tolerant search over name, SKU, category and description, with filters, "
        "sorts, keyset pages (`cursor` is the previous page's `next_cursor`) and "
        "category facets over the results without the category filter. Only active "
        "products, unless an admin asks for a `status`."
    ),
    response_model=ProductSearchOut,
    responses=_problems(
        s400="The cursor is not one this API gave out",
        s401="A status other than active without a token, or a bad token",
        s403="A status other than active asked by a non-admin",
        s422="A parameter is not valid",
        s503="The search backend is unavailable",
    ),
)
async def search_products(
    query: Annotated[ProductQuery, Query()],
    request: Request,
    identity: OptionalUser,
) -> Response:
    if query.status is not ProductStatus.ACTIVE:
        if identity is None:
            raise AuthenticationRequiredError("Listing products by status needs an admin's token.")
        if not identity.is_admin:
            raise ForbiddenError("Only admins may list draft or archived products.")
    backend: SearchBackend = request.app.state.search

    async def load() -> bytes:
        # A database session only when the cache misses: a hit needs none.
        async with unit_of_work(request.app.state.sessionmaker) as session:
            page = await backend.search(session, query)
            items = await product_views(session, page.products, request.app.state.media)
        body = ProductSearchOut(
            items=items,
            total=page.total,
            next_cursor=page.next_cursor,
            facets=Facets(
                categories=[CategoryCount(slug=f.slug, count=f.count) for f in page.facets]
            ),
        )
        return body.model_dump_json().encode()

    cache: CatalogCache = request.app.state.cache
    page = await cache.get_or_load_listing(query.cache_key(), load)
    return Response(page, media_type="application/json")
