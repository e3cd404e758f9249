"""refresh_tokens.session_started_at: sessions have an absolute lifetime

Revision ID: 5e55a0f1c0de
Revises: 2715fd4dd03b
Create Date: 2026-12-02 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e55a0f1c0de"
down_revision: str | None = "2715fd4dd03b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Sessions alive at the upgrade count as started then: none is cut short by it.
    op.add_column(
        "refresh_tokens",
        sa.Column(
            "session_started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("refresh_tokens", "session_started_at")
