"""order lines by variant

Revision ID: c5e8a1f07b42
Revises: f06aa5d58208
Create Date: 2026-12-02 12:50:00.000000

An order line names the variant it sold (``variant_id``) and keeps its title as it
was at placement (``variant_title``, "M / Red"). Two variants of one product may be
on one order, so lines are keyed by their position in the order instead of by
product (positions are already distinct within an order).

Lines placed before variants keep ``variant_id`` null: the catalog is another
service's database, so this migration cannot look their default variants up. Each
such line sold its product's only (default) variant, which the products service
still finds by the product's id, so a null is never ambiguous; readers treat it as
"the product's default variant". Their ``variant_title`` is "" as a default
variant's is.

No downtime: the new columns are nullable or have a server default, so the
previous release goes on inserting lines while this runs; the key swap is one
short lock on ``order_lines``. Downgrade: keyed by product again, which fails if
an order holds two variants of one product (the older schema cannot hold it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5e8a1f07b42"
down_revision: str | None = "f06aa5d58208"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("order_lines", sa.Column("variant_id", sa.Uuid(), nullable=True))
    op.add_column(
        "order_lines",
        sa.Column("variant_title", sa.String(length=320), server_default="", nullable=False),
    )
    op.drop_constraint("pk_order_lines", "order_lines", type_="primary")
    op.create_primary_key("pk_order_lines", "order_lines", ["order_id", "position"])


def downgrade() -> None:
    op.drop_constraint("pk_order_lines", "order_lines", type_="primary")
    op.create_primary_key("pk_order_lines", "order_lines", ["order_id", "product_id"])
    op.drop_column("order_lines", "variant_title")
    op.drop_column("order_lines", "variant_id")
