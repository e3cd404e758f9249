"""Tables of payments (on the orders service's metadata): an order's payment at its
provider, its refunds, and the provider events already handled.

An order has at most one payment (``payments.order_id`` is unique), recorded when the
order is placed. ``orders.payment_status`` is what the customer owes (the API's
``payment_status``); ``payments.status`` is where the money stands at the provider.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shop.orders.models import Base


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    return Enum(kind, name=name, values_callable=lambda e: [m.value for m in e])


class PaymentState(enum.StrEnum):
    """A payment at its provider."""

    AWAITING = "awaiting"  # not paid (yet): a manual one until marked paid, or a live intent
    SUCCEEDED = "succeeded"  # the money is received
    CANCELLED = "cancelled"  # can no longer be paid (cancelled at the provider)


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, the provider not (yet) known to have done it
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Payment(Base):
    """How an order is paid: its provider, the provider's reference (a Stripe
    PaymentIntent id), and the state of the money."""

    __tablename__ = "payments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    # Stripe.js's key to the intent: answered only to the order's owner, while awaiting.
    client_secret: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[PaymentState] = mapped_column(_enum(PaymentState, "payment_state"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Until when the order's stock is held for it (a provider paid online); then the
    # reconciler cancels the payment and the order.
    hold_expires_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))  # the last decline, in words
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
        # What the reconciler asks providers about: payments online still awaiting.
        Index(
            "ix_payments_awaiting_online",
            "created_at",
            postgresql_where=text("status = 'awaiting' AND provider <> 'manual'"),
        ),
    )


class Refund(Base):
    """Money given back for an order (shop.orders.refunds). ``automatic``: made by the
    system (a payment that arrived after its order was cancelled), not by an admin."""

    __tablename__ = "refunds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus, "refund_status"))
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(100))
    automatic: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_refunds_order", "order_id"),
        # What the reconciler finishes: refunds a crash or an outage left pending.
        Index("ix_refunds_pending", "created_at", postgresql_where=text("status = 'pending'")),
    )


class PaymentEvent(Base):
    """A provider's webhook event already handled: each is acted on once."""

    __tablename__ = "payment_events"

    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
