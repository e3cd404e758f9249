"""Tables of ``orders_db``: orders, their lines and history, idempotency keys, the outbox."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shop.kit.db_schema import TYPE_ANNOTATION_MAP, new_metadata
from shop.kit.outbox import outbox_table

if TYPE_CHECKING:
    from shop.orders.payment_models import Payment, Refund


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    return Enum(kind, name=name, values_callable=lambda e: [m.value for m in e])


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class StockState(enum.StrEnum):
    """What the placement saga has achieved at the products service."""

    NONE = "none"  # nothing asked yet, or the answer is not known
    HELD = "held"  # a reservation holds the units
    COMMITTED = "committed"  # the units have left the shelf
    RELEASED = "released"  # everything is given back (or was never taken)


class PaymentStatus(enum.StrEnum):
    """What the customer owes, as the API shows it (``payment_status``)."""

    AWAITING = "awaiting"  # not paid yet
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    NOT_REQUIRED = "not_required"  # nothing is owed: a total of 0, or cancelled unpaid


# Human-friendly order numbers: ORD-000001, ... (created by the migration).
order_number_seq = Sequence("order_number_seq", metadata=Base.metadata)


class Order(Base):
    """One order. Its id is also the key of its reservation at the products service."""

    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[uuid.UUID | None]  # None: a guest's (read with its order token)
    email: Mapped[str] = mapped_column(String(320))
    # The cart it was checked out from, if any; a guest order's token, as a SHA-256.
    cart_id: Mapped[uuid.UUID | None]
    order_token_hash: Mapped[str | None] = mapped_column(String(64))
    payment_provider: Mapped[str] = mapped_column(
        String(20), default="manual", server_default="manual"
    )
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    payment_status: Mapped[PaymentStatus] = mapped_column(
        _enum(PaymentStatus, "order_payment_status"),
        default=PaymentStatus.AWAITING,
        server_default=PaymentStatus.AWAITING.value,
    )
    # False until confirmed: a placement that failed is never shown to the customer.
    placed: Mapped[bool] = mapped_column(default=False)
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    # The figures of shop.orders.pricing.price as they were at placement (0 on orders
    # placed before shipping, taxes and discounts existed).
    discount_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    shipping_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    tax_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    # The code as the customer gave it, and the method as it was: {id, name, price}.
    promotion_code: Mapped[str | None] = mapped_column(String(64))
    shipping_method: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    currency: Mapped[str | None] = mapped_column(String(3))
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSONB)
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    stock_state: Mapped[StockState] = mapped_column(
        _enum(StockState, "stock_state"), default=StockState.NONE
    )
    # [{product_id, quantity}] as the customer asked, for the saga and its reconciler.
    requested_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    lines: Mapped[list[OrderLine]] = relationship(
        lazy="raise", order_by="OrderLine.position", cascade="all, delete-orphan"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        lazy="raise", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )
    # Its payment (shop.orders.payment_models; None before it is placed) and refunds.
    payment: Mapped[Payment | None] = relationship(lazy="raise", viewonly=True)
    refunds: Mapped[list[Refund]] = relationship(
        lazy="raise", order_by="Refund.created_at", viewonly=True
    )

    __table_args__ = (
        CheckConstraint("subtotal >= 0", name="subtotal_not_negative"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint(
            "discount_total >= 0 AND shipping_total >= 0 AND tax_total >= 0",
            name="figures_not_negative",
        ),
        Index("ix_orders_user_created", "user_id", "created_at", "id"),
        Index("ix_orders_created", "created_at", "id"),
        Index("ix_orders_status_created", "status", "created_at", "id"),
        # What the reconciler looks for: orders whose saga is not finished.
        Index(
            "ix_orders_unfinished",
            "created_at",
            postgresql_where=text(
                "status = 'pending' OR (status <> 'cancelled' AND stock_state = 'held')"
                " OR (status = 'cancelled' AND stock_state <> 'released')"
            ),
        ),
        # What the reconciler refunds: cancelled orders that still keep money.
        Index(
            "ix_orders_cancelled_paid",
            "updated_at",
            postgresql_where=text(
                "status = 'cancelled' AND payment_status IN ('paid', 'partially_refunded')"
            ),
        ),
    )


class OrderLine(Base):
    """A variant of an order, with the catalog's SKU, name, variant title and price when
    it was reserved. ``variant_id`` is null only on lines placed before variants existed
    (each was its product's only, default, variant)."""

    __tablename__ = "order_lines"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[uuid.UUID]
    variant_id: Mapped[uuid.UUID | None]
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    variant_title: Mapped[str] = mapped_column(String(320), default="")
    unit_price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    # Its share of the order's discount, its tax (added, or contained when prices
    # include tax) and what it costs: unit_price * quantity - discount (+ tax).
    discount: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    tax: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    line_total: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("line_total >= 0", name="line_total_not_negative"),
        CheckConstraint("discount >= 0 AND tax >= 0", name="discount_tax_not_negative"),
    )


class OrderEvent(Base):
    """The history: one row a transition (and one for the order's creation)."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(500), default="")


class IdempotencyState(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    DONE = "done"


LEASE_DEFAULT = "now() + interval '5 minutes'"


class IdempotencyKey(Base):
    """A client's Idempotency-Key: the request it came with and the answer it got."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[IdempotencyState] = mapped_column(_enum(IdempotencyState, "idempotency_state"))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # While in progress, the request that holds the key: its token, and when its lease
    # ends (a request still running by then no longer can change anything; see
    # shop.orders.idempotency). A placement records the order it created.
    # (The server defaults fill rows written before the lease existed, or by a process
    # of the previous release during an upgrade.)
    lease_token: Mapped[uuid.UUID] = mapped_column(server_default=text("gen_random_uuid()"))
    lease_expires_at: Mapped[datetime] = mapped_column(server_default=text(LEASE_DEFAULT))
    order_id: Mapped[uuid.UUID | None]


outbox = outbox_table(Base.metadata)

# The payment tables share this metadata, and Order's relationships name their classes.
from shop.orders import payment_models  # noqa: E402, F401
