"""search vocabulary added_at: when each word came, so that the in-process index follows

Revision ID: a3d9f27c6e18
Revises: e4f1a7c3d925
Create Date: 2026-12-04 22:00:00.000000

``search_vocabulary.added_at``: the start of the transaction that added the word
(``now()``; the words already there take the migration's), with a btree index. The
in-process index keeps the vocabulary and corrects words itself; a catch-up reads
the words added since the previous one began, less its margin, as it does products
(shop.products.search.mem_keeper). A default that is not volatile (``now()`` is
evaluated once for the statement) adds the column without rewriting the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a3d9f27c6e18"
down_revision: str | None = "e4f1a7c3d925"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "search_vocabulary",
        sa.Column(
            "added_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index("ix_search_vocabulary_added_at", "search_vocabulary", ["added_at"])


def downgrade() -> None:
    op.drop_index("ix_search_vocabulary_added_at", table_name="search_vocabulary")
    op.drop_column("search_vocabulary", "added_at")
