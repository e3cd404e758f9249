"""Tables of what carts and checkout price with: shipping methods, tax rates, promotions
and the uses of promotions (on the orders service's metadata, beside its orders)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from shop.orders.models import Base
from shop.orders.pricing import DiscountKind

ANY_COUNTRY = "*"


class ShippingMethod(Base):
    """A way to ship, its price and where it goes. Deleting one deactivates it: orders
    and carts may still name it."""

    __tablename__ = "shipping_methods"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # ISO 3166-1 alpha-2 codes, or ["*"] for everywhere.
    countries: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    price: Mapped[int] = mapped_column(BigInteger)
    free_over: Mapped[int | None] = mapped_column(BigInteger)
    min_days: Mapped[int] = mapped_column(Integer)
    max_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("free_over IS NULL OR free_over >= 0", name="free_over_not_negative"),
        CheckConstraint("0 <= min_days AND min_days <= max_days", name="days_ordered"),
        # Which methods go to a country: WHERE countries && ARRAY['DE', '*'].
        Index("ix_shipping_methods_countries", "countries", postgresql_using="gin"),
    )


class TaxRate(Base):
    """A tax rate of a country, or of one region of it (a region's rate beats the
    country's). One rate per (country, region)."""

    __tablename__ = "tax_rates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    # The address's region as customers write it, compared case-insensitively; ""
    # for the whole country (so that the unique index below covers it).
    region: Mapped[str] = mapped_column(String(100), default="")
    name: Mapped[str] = mapped_column(String(100))
    rate_bp: Mapped[int] = mapped_column(Integer)
    applies_to_shipping: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (CheckConstraint("rate_bp BETWEEN 0 AND 10000", name="rate_bp_in_range"),)


Index("uq_tax_rates_country_region", TaxRate.country, func.lower(TaxRate.region), unique=True)


class Promotion(Base):
    """A promotion code. Deleting one deactivates it: the orders that used it keep
    its code, and a code is never reused for another promotion."""

    __tablename__ = "promotions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[DiscountKind] = mapped_column(
        Enum(DiscountKind, name="discount_kind", values_callable=lambda e: [m.value for m in e])
    )
    # Percent (1-100), or minor units for a fixed discount; null for free shipping.
    value: Mapped[int | None] = mapped_column(BigInteger)
    min_subtotal: Mapped[int | None] = mapped_column(BigInteger)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    times_used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint("value IS NULL OR value >= 0", name="value_not_negative"),
        CheckConstraint(
            "min_subtotal IS NULL OR min_subtotal >= 0", name="min_subtotal_not_negative"
        ),
        CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at", name="window_ordered"
        ),
        # The last line of defence of the race-safe count (see shop.orders.promotion_uses).
        CheckConstraint(
            "times_used >= 0 AND (usage_limit IS NULL OR times_used <= usage_limit)",
            name="times_used_within_limit",
        ),
    )


# Codes are case-insensitive: SUMMER10 and summer10 are one code.
Index("uq_promotions_code", func.lower(Promotion.code), unique=True)


class PromotionUse(Base):
    """One order's use of a promotion, keyed by the order: claiming twice for one order
    counts once, giving back twice gives back once. The customer is the user (if signed
    in) and the email (always), lower-cased: a per-customer limit counts either."""

    __tablename__ = "promotion_uses"

    order_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    promotion_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("promotions.id", ondelete="RESTRICT")
    )
    user_id: Mapped[uuid.UUID | None]
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("ix_promotion_uses_promotion_user", "promotion_id", "user_id"),
        Index("ix_promotion_uses_promotion_email", "promotion_id", "email"),
    )
