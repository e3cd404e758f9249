"""search over variants: indexes for option filters and variant price ranges

Revision ID: 7d1e4a9c2b6f
Revises: 5b7e2c9d41a3
Create Date: 2026-12-02 16:00:00.000000

Searches filter on the options and prices of active variants
(shop.products.search.pg_variants): a GIN index (``jsonb_path_ops``, for ``@>``)
on ``product_variants.options`` and a btree on ``(price, product_id)``, both
partial on ``status = 'active'``. Built ``CONCURRENTLY`` (outside the migration's
transaction), so catalog writes go on meanwhile; nothing else changes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7d1e4a9c2b6f"
down_revision: str | None = "5b7e2c9d41a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status = 'active'"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_product_variants_active_options",
            "product_variants",
            ["options"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"options": "jsonb_path_ops"},
            postgresql_where=ACTIVE,
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.create_index(
            "ix_product_variants_active_price",
            "product_variants",
            ["price", "product_id"],
            unique=False,
            postgresql_where=ACTIVE,
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    # In the migration's transaction (not CONCURRENTLY): a downgrade that a later step
    # refuses (b84d2f6a9c31, while a product has several variants) then changes nothing.
    op.drop_index("ix_product_variants_active_price", table_name="product_variants")
    op.drop_index("ix_product_variants_active_options", table_name="product_variants")
