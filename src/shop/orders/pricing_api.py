"""Routes of the admin resources carts and checkout price with: ``/api/v1/shipping-methods``
(anyone lists the active ones), ``/api/v1/tax-rates`` and ``/api/v1/promotions``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from shop.kit.db import Session
from shop.kit.errors import problem_responses
from shop.kit.identity import AdminUser, OptionalUser
from shop.orders import pricing_admin
from shop.orders.pricing_models import TaxRate
from shop.orders.pricing_schemas import (
    PromotionIn,
    PromotionOut,
    PromotionPage,
    PromotionUpdate,
    ShippingMethodIn,
    ShippingMethodOut,
    ShippingMethodPage,
    ShippingMethodUpdate,
    TaxRateIn,
    TaxRateOut,
    TaxRatePage,
    TaxRateUpdate,
)

SHIPPING_METHODS = "/api/v1/shipping-methods"
TAX_RATES = "/api/v1/tax-rates"
PROMOTIONS = "/api/v1/promotions"
router = APIRouter(tags=["pricing"])

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512)]
ADMIN_WRITE = problem_responses(401, 403, 404, 409, 422)


# --- shipping methods ---------------------------------------------------------------


@router.get(
    SHIPPING_METHODS,
    summary="Shipping methods: the active ones, or all of them for an admin",
    responses=problem_responses(400, 401, 422),
)
async def list_shipping_methods(
    identity: OptionalUser, session: Session, limit: Limit = 20, cursor: Cursor = None
) -> ShippingMethodPage:
    admin = identity is not None and identity.is_admin
    page, next_cursor = await pricing_admin.list_shipping_methods(
        session, limit, cursor, active_only=not admin
    )
    return ShippingMethodPage(
        items=[ShippingMethodOut.model_validate(method) for method in page],
        next_cursor=next_cursor,
    )


@router.post(SHIPPING_METHODS, status_code=201, responses=problem_responses(401, 403, 422))
async def create_shipping_method(
    body: ShippingMethodIn, _: AdminUser, session: Session
) -> ShippingMethodOut:
    method = await pricing_admin.create_shipping_method(session, body)
    return ShippingMethodOut.model_validate(method)


@router.patch(f"{SHIPPING_METHODS}/{{method_id}}", responses=ADMIN_WRITE)
async def update_shipping_method(
    method_id: uuid.UUID, body: ShippingMethodUpdate, _: AdminUser, session: Session
) -> ShippingMethodOut:
    method = await pricing_admin.update_shipping_method(session, method_id, body)
    return ShippingMethodOut.model_validate(method)


@router.delete(
    f"{SHIPPING_METHODS}/{{method_id}}",
    status_code=204,
    summary="Deactivate a shipping method (carts and orders may name it)",
    responses=problem_responses(401, 403, 404, 422),
)
async def deactivate_shipping_method(
    method_id: uuid.UUID, _: AdminUser, session: Session
) -> Response:
    await pricing_admin.deactivate_shipping_method(session, method_id)
    return Response(status_code=204)


# --- tax rates ----------------------------------------------------------------------


def tax_rate_out(rate: TaxRate) -> TaxRateOut:
    return TaxRateOut(
        id=rate.id,
        country=rate.country,
        region=rate.region or None,
        name=rate.name,
        rate_bp=rate.rate_bp,
        applies_to_shipping=rate.applies_to_shipping,
    )


@router.get(TAX_RATES, summary="Tax rates", responses=problem_responses(400, 401, 403, 422))
async def list_tax_rates(
    _: AdminUser, session: Session, limit: Limit = 20, cursor: Cursor = None
) -> TaxRatePage:
    page, next_cursor = await pricing_admin.list_tax_rates(session, limit, cursor)
    return TaxRatePage(items=[tax_rate_out(rate) for rate in page], next_cursor=next_cursor)


@router.post(TAX_RATES, status_code=201, responses=problem_responses(401, 403, 409, 422))
async def create_tax_rate(body: TaxRateIn, _: AdminUser, session: Session) -> TaxRateOut:
    return tax_rate_out(await pricing_admin.create_tax_rate(session, body))


@router.patch(f"{TAX_RATES}/{{rate_id}}", responses=ADMIN_WRITE)
async def update_tax_rate(
    rate_id: uuid.UUID, body: TaxRateUpdate, _: AdminUser, session: Session
) -> TaxRateOut:
    return tax_rate_out(await pricing_admin.update_tax_rate(session, rate_id, body))


@router.delete(
    f"{TAX_RATES}/{{rate_id}}",
    status_code=204,
    summary="Delete a tax rate (orders keep the figures they were priced with)",
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_tax_rate(rate_id: uuid.UUID, _: AdminUser, session: Session) -> Response:
    await pricing_admin.delete_tax_rate(session, rate_id)
    return Response(status_code=204)


# --- promotions ---------------------------------------------------------------------


@router.get(PROMOTIONS, summary="Promotions", responses=problem_responses(400, 401, 403, 422))
async def list_promotions(
    _: AdminUser, session: Session, limit: Limit = 20, cursor: Cursor = None
) -> PromotionPage:
    page, next_cursor = await pricing_admin.list_promotions(session, limit, cursor)
    return PromotionPage(
        items=[PromotionOut.model_validate(promotion) for promotion in page],
        next_cursor=next_cursor,
    )


@router.get(
    f"{PROMOTIONS}/{{promotion_id}}",
    summary="One promotion, with its times_used",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_promotion(promotion_id: uuid.UUID, _: AdminUser, session: Session) -> PromotionOut:
    return PromotionOut.model_validate(await pricing_admin.get_promotion(session, promotion_id))


@router.post(PROMOTIONS, status_code=201, responses=problem_responses(401, 403, 409, 422))
async def create_promotion(body: PromotionIn, _: AdminUser, session: Session) -> PromotionOut:
    return PromotionOut.model_validate(await pricing_admin.create_promotion(session, body))


@router.patch(f"{PROMOTIONS}/{{promotion_id}}", responses=ADMIN_WRITE)
async def update_promotion(
    promotion_id: uuid.UUID, body: PromotionUpdate, _: AdminUser, session: Session
) -> PromotionOut:
    promotion = await pricing_admin.update_promotion(session, promotion_id, body)
    return PromotionOut.model_validate(promotion)


@router.delete(
    f"{PROMOTIONS}/{{promotion_id}}",
    status_code=204,
    summary="Deactivate a promotion (its code and count stay; orders keep their figures)",
    responses=problem_responses(401, 403, 404, 422),
)
async def deactivate_promotion(promotion_id: uuid.UUID, _: AdminUser, session: Session) -> Response:
    await pricing_admin.deactivate_promotion(session, promotion_id)
    return Response(status_code=204)
