"""Routes of a product's variants, under ``/api/v1/products/{id}/variants`` (admin):
add one, change one (``If-Match`` with the variant's ``"v{version}"``), archive one.

Each answers the variant as it was written, with its version as ``ETag``. Like every
catalog write, the use case only flushes; the session dependency commits.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import Session
from shop.kit.errors import problem_responses
from shop.kit.identity import AdminUser
from shop.products import variants
from shop.products.api import JSON, CatalogContext, expected_version
from shop.products.models import ProductVariant
from shop.products.presenters import variant_out
from shop.products.repositories import StockRepository
from shop.products.schemas import VariantIn, VariantOut, VariantUpdate

router = APIRouter(prefix="/api/v1/products/{product_id}/variants", tags=["catalog"])


async def _answer(session: AsyncSession, variant: ProductVariant, status: int = 200) -> Response:
    stock = await StockRepository(session).of_variant(variant.id)
    view = variant_out(variant, stock)
    return Response(
        view.model_dump_json(),
        status_code=status,
        media_type=JSON,
        headers={"ETag": f'"v{view.version}"'},
    )


@router.post(
    "",
    status_code=201,
    response_model=VariantOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def add_variant(
    product_id: uuid.UUID,
    body: VariantIn,
    _: AdminUser,
    session: Session,
    catalog: CatalogContext,
) -> Response:
    variant = await variants.add_variant(session, catalog.cache, catalog.actor, product_id, body)
    response = await _answer(session, variant, 201)
    response.headers["Location"] = f"/api/v1/products/{product_id}/variants/{variant.id}"
    return response


@router.patch(
    "/{variant_id}",
    response_model=VariantOut,
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def update_variant(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    body: VariantUpdate,
    _: AdminUser,
    session: Session,
    catalog: CatalogContext,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    variant = await variants.update_variant(
        session, catalog.cache, product_id, variant_id, body, expected_version(if_match)
    )
    return await _answer(session, variant)


@router.delete("/{variant_id}", status_code=204, responses=problem_responses(401, 403, 404, 409))
async def archive_variant(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    _: AdminUser,
    session: Session,
    catalog: CatalogContext,
) -> Response:
    await variants.archive_variant(session, catalog.cache, product_id, variant_id)
    return Response(status_code=204)
