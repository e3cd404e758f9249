"""refund reconciliation indexes

Revision ID: e4b2c8d61f09
Revises: b81d4e6f2a97
Create Date: 2026-12-02 22:30:00.000000

What the reconciler looks for every round (shop.orders.refunds), found by partial
indexes rather than a scan of every refund and every order: refunds still
``pending``, and cancelled orders that still keep money (``paid`` or
``partially_refunded``). Both sets are empty or nearly so in a healthy shop.

No downtime: two indexes on new or few rows (the previous release writes no
refund, and marks no order paid).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e4b2c8d61f09"
down_revision: str | None = "b81d4e6f2a97"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status = 'pending'"
CANCELLED_PAID = "status = 'cancelled' AND payment_status IN ('paid', 'partially_refunded')"


def upgrade() -> None:
    op.create_index(
        "ix_refunds_pending",
        "refunds",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text(PENDING),
    )
    op.create_index(
        "ix_orders_cancelled_paid",
        "orders",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text(CANCELLED_PAID),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_orders_cancelled_paid", table_name="orders", postgresql_where=sa.text(CANCELLED_PAID)
    )
    op.drop_index("ix_refunds_pending", table_name="refunds", postgresql_where=sa.text(PENDING))
