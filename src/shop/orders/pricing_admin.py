"""Use cases of the admin resources: shipping methods, tax rates, promotions. Each takes
the request's session and flushes; the request commits.

Deleting a shipping method or a promotion deactivates it (``active: false``): carts and
orders name them, and a promotion's code and count stay its own. A tax rate is deleted
for good: an order keeps the figures it was priced with, never a reference to a rate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.pagination import decode_cursor, encode_cursor
from shop.orders.errors import (
    DuplicatePromotionCodeError,
    DuplicateTaxRateError,
    InvalidFieldError,
    PromotionNotFoundError,
    ShippingMethodNotFoundError,
    TaxRateNotFoundError,
)
from shop.orders.pricing import MAX_PERCENT, DiscountKind
from shop.orders.pricing_models import Promotion, ShippingMethod, TaxRate
from shop.orders.pricing_repository import (
    PromotionRepository,
    ShippingMethodRepository,
    TaxRateRepository,
)
from shop.orders.pricing_schemas import (
    PromotionIn,
    PromotionUpdate,
    ShippingMethodIn,
    ShippingMethodUpdate,
    TaxRateIn,
    TaxRateUpdate,
)

Page = tuple[list[Any], str | None]


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    created_at, row_id = decode_cursor(cursor, datetime, uuid.UUID)
    return created_at, row_id


def _paged(rows: list[Any], limit: int) -> Page:
    page = rows[:limit]
    more = len(rows) > limit
    return page, encode_cursor([page[-1].created_at, page[-1].id]) if more else None


def _changes(data: BaseModel, nullable: Iterable[str]) -> dict[str, Any]:
    """The fields a PATCH sets; null only where a field may be null."""
    changes = data.model_dump(exclude_unset=True)
    allowed = set(nullable)
    for field, value in changes.items():
        if value is None and field not in allowed:
            raise InvalidFieldError(field, "must not be null")
    return changes


def _apply(row: Any, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        setattr(row, field, value)


# --- shipping methods ---------------------------------------------------------------


def _check_days(method: ShippingMethod) -> None:
    if method.min_days > method.max_days:
        raise InvalidFieldError("max_days", "must be at least min_days")


async def _shipping_method(
    methods: ShippingMethodRepository, method_id: uuid.UUID
) -> ShippingMethod:
    method = await methods.get(method_id)
    if method is None:
        raise ShippingMethodNotFoundError
    return method


async def list_shipping_methods(
    session: AsyncSession, limit: int, cursor: str | None, *, active_only: bool
) -> Page:
    conditions = [ShippingMethod.active.is_(True)] if active_only else []
    rows = await ShippingMethodRepository(session).page(limit + 1, _after(cursor), *conditions)
    return _paged(rows, limit)


async def create_shipping_method(session: AsyncSession, data: ShippingMethodIn) -> ShippingMethod:
    method = ShippingMethod(id=uuid.uuid4(), **data.model_dump())
    _check_days(method)
    methods = ShippingMethodRepository(session)
    methods.add(method)
    await methods.flush()
    return method


async def update_shipping_method(
    session: AsyncSession, method_id: uuid.UUID, data: ShippingMethodUpdate
) -> ShippingMethod:
    methods = ShippingMethodRepository(session)
    method = await _shipping_method(methods, method_id)
    _apply(method, _changes(data, nullable=["free_over"]))
    _check_days(method)
    await methods.flush()
    return method


async def deactivate_shipping_method(session: AsyncSession, method_id: uuid.UUID) -> None:
    methods = ShippingMethodRepository(session)
    method = await _shipping_method(methods, method_id)
    method.active = False
    await methods.flush()


# --- tax rates ----------------------------------------------------------------------


async def _tax_rate(rates: TaxRateRepository, rate_id: uuid.UUID) -> TaxRate:
    rate = await rates.get(rate_id)
    if rate is None:
        raise TaxRateNotFoundError
    return rate


async def _flush_rate(rates: TaxRateRepository) -> None:
    try:
        await rates.flush()
    except IntegrityError as exc:  # the unique (country, lower(region)) index
        raise DuplicateTaxRateError from exc


async def list_tax_rates(session: AsyncSession, limit: int, cursor: str | None) -> Page:
    return _paged(await TaxRateRepository(session).page(limit + 1, _after(cursor)), limit)


async def create_tax_rate(session: AsyncSession, data: TaxRateIn) -> TaxRate:
    values = data.model_dump()
    values["region"] = values["region"] or ""
    rates = TaxRateRepository(session)
    rate = rates.add(TaxRate(id=uuid.uuid4(), **values))
    await _flush_rate(rates)
    return rate


async def update_tax_rate(
    session: AsyncSession, rate_id: uuid.UUID, data: TaxRateUpdate
) -> TaxRate:
    rates = TaxRateRepository(session)
    rate = await _tax_rate(rates, rate_id)
    changes = _changes(data, nullable=["region"])
    if "region" in changes:
        changes["region"] = changes["region"] or ""
    _apply(rate, changes)
    await _flush_rate(rates)
    return rate


async def delete_tax_rate(session: AsyncSession, rate_id: uuid.UUID) -> None:
    rates = TaxRateRepository(session)
    await rates.delete(await _tax_rate(rates, rate_id))
    await rates.flush()


# --- promotions ---------------------------------------------------------------------


def _check_promotion(promotion: Promotion) -> None:
    """What depends on two fields, on the merged values."""
    value = promotion.value
    if promotion.kind is DiscountKind.FREE_SHIPPING:
        if value is not None:
            raise InvalidFieldError("value", "a free_shipping promotion has no value")
    elif value is None:
        raise InvalidFieldError("value", f"a {promotion.kind.value} promotion needs a value")
    elif promotion.kind is DiscountKind.PERCENTAGE and not 1 <= value <= MAX_PERCENT:
        raise InvalidFieldError("value", "a percentage is 1-100")
    starts_at, ends_at = promotion.starts_at, promotion.ends_at
    if starts_at is not None and ends_at is not None and starts_at >= ends_at:
        raise InvalidFieldError("ends_at", "must be after starts_at")
    limit = promotion.usage_limit
    if limit is not None and limit < promotion.times_used:
        raise InvalidFieldError(
            "usage_limit", f"must be at least times_used ({promotion.times_used})"
        )


async def _flush_promotion(promotions: PromotionRepository) -> None:
    try:
        await promotions.flush()
    except IntegrityError as exc:  # the unique lower(code) index
        raise DuplicatePromotionCodeError from exc


async def list_promotions(session: AsyncSession, limit: int, cursor: str | None) -> Page:
    return _paged(await PromotionRepository(session).page(limit + 1, _after(cursor)), limit)


async def get_promotion(session: AsyncSession, promotion_id: uuid.UUID) -> Promotion:
    promotion = await PromotionRepository(session).get(promotion_id)
    if promotion is None:
        raise PromotionNotFoundError
    return promotion


async def create_promotion(session: AsyncSession, data: PromotionIn) -> Promotion:
    promotion = Promotion(id=uuid.uuid4(), times_used=0, **data.model_dump())
    _check_promotion(promotion)
    promotions = PromotionRepository(session)
    promotions.add(promotion)
    await _flush_promotion(promotions)
    return promotion


async def update_promotion(
    session: AsyncSession, promotion_id: uuid.UUID, data: PromotionUpdate
) -> Promotion:
    promotions = PromotionRepository(session)
    # Locked: a claim can't count a use between the check of usage_limit and the write.
    promotion = await promotions.lock(promotion_id)
    if promotion is None:
        raise PromotionNotFoundError
    nullable = ["value", "min_subtotal", "starts_at", "ends_at", "usage_limit"]
    _apply(promotion, _changes(data, nullable=[*nullable, "per_customer_limit"]))
    _check_promotion(promotion)
    await _flush_promotion(promotions)
    return promotion


async def deactivate_promotion(session: AsyncSession, promotion_id: uuid.UUID) -> None:
    promotions = PromotionRepository(session)
    promotion = await promotions.lock(promotion_id)
    if promotion is None:
        raise PromotionNotFoundError
    promotion.active = False
    await promotions.flush()
