"""idempotency key lease and order

Revision ID: f06aa5d58208
Revises: db887347e170
Create Date: 2026-11-25 04:04:21.754981
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f06aa5d58208"
down_revision: str | None = "db887347e170"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server defaults fill the rows already there (a key in progress gets a lease of
    # five minutes from now) and those a process of the previous release writes.
    op.add_column(
        "idempotency_keys",
        sa.Column(
            "lease_token", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False
        ),
    )
    op.add_column(
        "idempotency_keys",
        sa.Column(
            "lease_expires_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now() + interval '5 minutes'"),
            nullable=False,
        ),
    )
    op.add_column("idempotency_keys", sa.Column("order_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("idempotency_keys", "order_id")
    op.drop_column("idempotency_keys", "lease_expires_at")
    op.drop_column("idempotency_keys", "lease_token")
