"""payments, refunds, payment events; orders.payment_status

Revision ID: b81d4e6f2a97
Revises: 9c41e6a8d2f3
Create Date: 2026-12-02 22:10:00.000000

Orders gain ``payment_status``. Backfill (every order so far was paid manually, and
none was recorded paid): an order cancelled owes nothing (``not_required``), as does a
placed order of total 0; every other order is ``awaiting``. Each placed order gets its
manual payment row: ``awaiting``, ``cancelled`` for a cancelled order, ``succeeded``
for a total of 0 (nothing to collect).

No downtime: new tables, and a column with a server default (``awaiting``, what an
order placed by the previous release owes). Downgrade drops the payments and refunds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b81d4e6f2a97"
down_revision: str | None = "9c41e6a8d2f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUMS = {
    "order_payment_status": ("awaiting", "paid", "partially_refunded", "refunded", "not_required"),
    "payment_state": ("awaiting", "succeeded", "cancelled"),
    "refund_status": ("pending", "succeeded", "failed"),
}


def _enum(name: str) -> sa.Enum:
    """A new type object each time (one is bound to the table it is first used in)."""
    return sa.Enum(*ENUMS[name], name=name)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def upgrade() -> None:
    order_payment_status = _enum("order_payment_status")
    order_payment_status.create(op.get_bind(), checkfirst=False)
    op.add_column(
        "orders",
        sa.Column(
            "payment_status", order_payment_status, server_default="awaiting", nullable=False
        ),
    )
    op.execute(
        "UPDATE orders SET payment_status = 'not_required'"
        " WHERE status = 'cancelled' OR (placed AND total = 0)"
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_ref", sa.String(length=255), nullable=True),
        sa.Column("client_secret", sa.String(length=255), nullable=True),
        sa.Column("status", _enum("payment_state"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payments_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_payments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("order_id", name=op.f("uq_payments_order_id")),
        sa.UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
    )
    op.create_index(
        "ix_payments_awaiting_online",
        "payments",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'awaiting' AND provider <> 'manual'"),
    )
    op.execute(
        "INSERT INTO payments (id, order_id, provider, status, amount, currency,"
        " created_at, updated_at)"
        " SELECT gen_random_uuid(), id, 'manual',"
        " (CASE WHEN status = 'cancelled' THEN 'cancelled'"
        "  WHEN total = 0 THEN 'succeeded' ELSE 'awaiting' END)::payment_state,"
        " total, coalesce(currency, 'XXX'), created_at, created_at"
        " FROM orders WHERE placed"
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", _enum("refund_status"), nullable=False),
        sa.Column("provider_ref", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("automatic", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_refunds_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_refunds_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_order", "refunds", ["order_id"], unique=False)
    op.create_table(
        "payment_events",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_payment_events")),
    )


def downgrade() -> None:
    op.drop_table("payment_events")
    op.drop_index("ix_refunds_order", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index(
        "ix_payments_awaiting_online",
        table_name="payments",
        postgresql_where=sa.text("status = 'awaiting' AND provider <> 'manual'"),
    )
    op.drop_table("payments")
    op.drop_column("orders", "payment_status")
    bind = op.get_bind()
    for name in ("refund_status", "payment_state", "order_payment_status"):
        _enum(name).drop(bind, checkfirst=False)
