"""Queries of shipping methods, tax rates, promotions and promotion uses. They flush;
the caller commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from shop.orders.pricing_models import (
    ANY_COUNTRY,
    Promotion,
    PromotionUse,
    ShippingMethod,
    TaxRate,
)

RowT = TypeVar("RowT", ShippingMethod, TaxRate, Promotion)


class _Rows(Generic[RowT]):
    """What the three admin tables share: get, add, pages by (created_at, id)."""

    model: type[RowT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: uuid.UUID) -> RowT | None:
        return await self.session.get(self.model, key)

    def add(self, row: RowT) -> RowT:
        self.session.add(row)
        return row

    async def delete(self, row: RowT) -> None:
        await self.session.delete(row)

    async def flush(self) -> None:
        """Sends what is pending (a unique index's violation raises here)."""
        await self.session.flush()

    async def page(
        self, limit: int, after: tuple[datetime, uuid.UUID] | None, *conditions: Any
    ) -> list[RowT]:
        """Oldest first by (created_at, id)."""
        model: Any = self.model
        query = select(self.model).order_by(model.created_at, model.id).limit(limit)
        if after is not None:
            query = query.where(tuple_(model.created_at, model.id) > tuple_(*after))
        if conditions:
            query = query.where(*conditions)
        return list(await self.session.scalars(query))


class ShippingMethodRepository(_Rows[ShippingMethod]):
    model = ShippingMethod

    async def offered_to(self, country: str) -> list[ShippingMethod]:
        """The active methods that ship to ``country`` (by name or by ``*``), cheapest
        first (the GIN index on countries answers the overlap)."""
        wanted = literal([country, ANY_COUNTRY], ARRAY(String(2)))
        query = (
            select(ShippingMethod)
            .where(ShippingMethod.active.is_(True), ShippingMethod.countries.overlap(wanted))
            .order_by(ShippingMethod.price, ShippingMethod.name, ShippingMethod.id)
        )
        return list(await self.session.scalars(query))


class TaxRateRepository(_Rows[TaxRate]):
    model = TaxRate

    async def most_specific(self, country: str, region: str | None) -> TaxRate | None:
        """The region's rate if it has one, else the country's, else none."""
        regions = [""] if not region else ["", region.strip().lower()]
        query = (
            select(TaxRate)
            .where(TaxRate.country == country, func.lower(TaxRate.region).in_(regions))
            .order_by((TaxRate.region == "").asc())  # false (a region) sorts first
            .limit(1)
        )
        rate: TaxRate | None = await self.session.scalar(query)
        return rate


class PromotionRepository(_Rows[Promotion]):
    model = Promotion

    async def by_code(self, code: str, *, lock: bool = False) -> Promotion | None:
        """The promotion of ``code`` in any letter case; ``lock``: its row locked until
        the transaction ends, read fresh (the claims of one code queue up here)."""
        query = select(Promotion).where(func.lower(Promotion.code) == code.lower())
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        promotion: Promotion | None = await self.session.scalar(query)
        return promotion

    async def lock(self, promotion_id: uuid.UUID) -> Promotion | None:
        query = (
            select(Promotion)
            .where(Promotion.id == promotion_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        promotion: Promotion | None = await self.session.scalar(query)
        return promotion

    async def count_use(self, promotion_id: uuid.UUID, delta: int) -> None:
        await self.session.execute(
            update(Promotion)
            .where(Promotion.id == promotion_id)
            .values(times_used=Promotion.times_used + delta)
            .execution_options(synchronize_session="fetch")
        )


class PromotionUseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_order(self, order_id: uuid.UUID) -> PromotionUse | None:
        query = select(PromotionUse).where(PromotionUse.order_id == order_id)
        use: PromotionUse | None = await self.session.scalar(query)
        return use

    async def count_by_customer(
        self, promotion_id: uuid.UUID, user_id: uuid.UUID | None, email: str
    ) -> int:
        """The uses of the promotion by this user or this email (lower-cased)."""
        customer = PromotionUse.email == email.lower()
        if user_id is not None:
            customer = or_(customer, PromotionUse.user_id == user_id)
        query = select(func.count()).where(PromotionUse.promotion_id == promotion_id, customer)
        return int(await self.session.scalar(query) or 0)

    async def record(
        self, promotion_id: uuid.UUID, order_id: uuid.UUID, user_id: uuid.UUID | None, email: str
    ) -> bool:
        """Records the order's use; false if it had one already."""
        result = await self.session.execute(
            insert(PromotionUse)
            .values(
                order_id=order_id, promotion_id=promotion_id, user_id=user_id, email=email.lower()
            )
            .on_conflict_do_nothing(index_elements=[PromotionUse.order_id])
            .returning(PromotionUse.order_id)
        )
        return result.scalar_one_or_none() is not None

    async def remove(self, order_id: uuid.UUID) -> uuid.UUID | None:
        """Deletes the order's use; the promotion it was of, or None if it had none."""
        result = await self.session.execute(
            delete(PromotionUse)
            .where(PromotionUse.order_id == order_id)
            .returning(PromotionUse.promotion_id)
        )
        return result.scalar_one_or_none()
