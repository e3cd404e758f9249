"""``GET /api/v1/products``: search and list the catalog.

Anyone lists active products. ``status=draft`` or ``status=archived`` is for
admins: without a token it is a 401, with a non-admin's token a 403 (asking
explicitly for what one may not see is an error, not silently another answer);
``status=active`` is allowed to everyone.

``option.<Name>`` parameters are read by :class:`ProductQuery` itself (they are not
fields of it: any name may follow the dot), so they are in its cache key.

Pages are cached in the catalog cache under the normalized query (status
included), so every spelling of one query shares an entry; every catalog write
invalidates the cache after it commits. Pages show stock (``available``, the
``in_stock`` filter): after a stock change (reservations ...) a cached page may
be served for up to 2 s more (``cache.LISTING_STOCK_STALENESS_SECONDS``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from shop.kit.errors import problem_responses
from shop.kit.identity import AuthenticationRequiredError, ForbiddenError, OptionalUser
from shop.products import reads
from shop.products.cache import CatalogCache
from shop.products.models import ProductStatus
from shop.products.schemas import ProductSearchOut
from shop.products.search import ProductQuery, SearchBackend

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get(
    "/products",
    summary="Search and list products",
    description=(
        "Typo-tolerant search over name, SKU (a variant's too), category and "
        "description, with filters, sorts, keyset pages (`cursor` is the previous "
        "page's `next_cursor`), category facets over the results without the category "
        "filter and option facets. `option.<Name>=<value>` (repeatable; e.g. "
        "`option.Size=M&option.Size=L&option.Color=Red`) keeps products of which one "
        "active variant has one of the values asked of each option named (names and "
        "values as declared, case included); that variant must also be in the price "
        "range and, with `in_stock`, in stock. Only active products, unless an admin "
        "asks for a `status`."
    ),
    response_model=ProductSearchOut,
    responses=problem_responses(
        descriptions={
            400: "The cursor is not one this API gave out",
            401: "A status other than active without a token, or a bad token",
            403: "A status other than active asked by a non-admin",
            422: "A parameter is not valid",
            503: "The search backend is unavailable",
        }
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
        return await reads.search_listing(
            request.app.state.sessionmaker, backend, request.app.state.media, query
        )

    cache: CatalogCache = request.app.state.cache
    page = await cache.get_or_load_listing(query.cache_key(), load)
    return Response(page, media_type="application/json")
