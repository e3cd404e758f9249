"""Tables of carts: a cart and its lines (on the orders service's metadata)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.orders.models import Base


class CartStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETED = "completed"  # checked out: its order is ``order_id``


class Cart(Base):
    """A cart: a user's (``user_id``), or a guest's, whose random id is its only key.
    Prices are never stored: a cart is priced from the catalog each time it is read."""

    __tablename__ = "carts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID | None]
    email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[CartStatus] = mapped_column(
        Enum(CartStatus, name="cart_status", values_callable=lambda e: [m.value for m in e]),
        default=CartStatus.OPEN,
    )
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    shipping_method_id: Mapped[uuid.UUID | None]
    promotion_code: Mapped[str | None] = mapped_column(String(64))
    # The order of the checkout in flight or last tried (pending: in flight; confirmed:
    # the cart is completed with it; cancelled: refused, the cart may be checked out again).
    order_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]

    lines: Mapped[list[CartLine]] = relationship(
        lazy="raise", order_by="CartLine.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_carts_user", "user_id", postgresql_where=text("user_id IS NOT NULL")),
        Index("ix_carts_expires_at", "expires_at"),  # the sweeper's
    )


class CartLine(Base):
    """A variant in a cart, and how many."""

    __tablename__ = "cart_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    cart_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[uuid.UUID]
    variant_id: Mapped[uuid.UUID]
    quantity: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        # One line a variant, and a cart's lines read by one index scan.
        UniqueConstraint("cart_id", "variant_id", name="uq_cart_lines_cart_variant"),
        Index("ix_cart_lines_cart_position", "cart_id", "position"),
    )
