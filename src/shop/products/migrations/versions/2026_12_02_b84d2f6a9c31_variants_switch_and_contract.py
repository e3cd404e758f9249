"""variants, step 2 of 2: switch stock and reservation lines to variants, and contract

Revision ID: b84d2f6a9c31
Revises: 3a7c9e1b5d20
Create Date: 2026-12-02 12:31:00.000000

Run once the release that reads and writes by variant is out (see revision
``3a7c9e1b5d20`` for the four steps). It backfills again what the previous
release wrote during the rollout (products without a variant, rows without
``variant_id``), then makes ``variant_id`` NOT NULL and keys stock by variant
and reservation lines by (order, variant). The keys by product are dropped
(the contract); the product columns stay, indexed, for sums per product.

Each ``ALTER`` here takes a short exclusive lock on its table (the NOT NULL
check and the new primary key's index are built under it); on a very large
``stock_movements`` one would add a ``CHECK (variant_id IS NOT NULL) NOT VALID``
constraint and ``VALIDATE`` it first, so that SET NOT NULL need not scan.

Downgrade: only while every product has exactly one variant (what the old
schema can hold); otherwise it stops, having changed nothing.
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b84d2f6a9c31"
down_revision: str | None = "3a7c9e1b5d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_expand = importlib.import_module(
    "shop.products.migrations.versions.2026_12_02_3a7c9e1b5d20_variants_expand_and_backfill"
)


def upgrade() -> None:
    _expand.backfill()
    for table in ("inventory", "stock_movements", "reservation_lines"):
        op.alter_column(table, "variant_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_constraint("pk_inventory", "inventory", type_="primary")
    op.create_primary_key("pk_inventory", "inventory", ["variant_id"])
    op.create_index(op.f("ix_inventory_product_id"), "inventory", ["product_id"], unique=False)
    op.create_index(
        op.f("ix_stock_movements_variant_id"), "stock_movements", ["variant_id"], unique=False
    )
    op.drop_constraint("pk_reservation_lines", "reservation_lines", type_="primary")
    op.create_primary_key("pk_reservation_lines", "reservation_lines", ["order_id", "variant_id"])
    op.create_index(
        op.f("ix_reservation_lines_product_id"), "reservation_lines", ["product_id"], unique=False
    )


class SeveralVariantsError(RuntimeError):
    pass


def downgrade() -> None:
    several = op.get_bind().scalar(
        sa.text(
            "SELECT count(*) FROM (SELECT product_id FROM product_variants"
            " GROUP BY product_id HAVING count(*) > 1) AS p"
        )
    )
    if several:
        raise SeveralVariantsError(
            f"{several} products have more than one variant, which the schema before"
            " variants cannot hold; archive or delete them down to one first."
        )
    op.drop_index(op.f("ix_reservation_lines_product_id"), table_name="reservation_lines")
    op.drop_constraint("pk_reservation_lines", "reservation_lines", type_="primary")
    op.create_primary_key("pk_reservation_lines", "reservation_lines", ["order_id", "product_id"])
    op.drop_index(op.f("ix_stock_movements_variant_id"), table_name="stock_movements")
    op.drop_index(op.f("ix_inventory_product_id"), table_name="inventory")
    op.drop_constraint("pk_inventory", "inventory", type_="primary")
    op.create_primary_key("pk_inventory", "inventory", ["product_id"])
    for table in ("inventory", "stock_movements", "reservation_lines"):
        op.alter_column(table, "variant_id", existing_type=sa.Uuid(), nullable=True)
