"""variants, step 1 of 2: expand and backfill

Revision ID: 3a7c9e1b5d20
Revises: dc482363701d
Create Date: 2026-12-02 12:30:00.000000

Every product becomes a product with one *default variant* (no options, title
"") carrying its SKU, price, stock and reservations. The change is made in four
steps so that the catalog never stops answering reads, nor orders selling:

1. **Expand** (this revision). New tables ``product_options`` and
   ``product_variants``; nullable ``variant_id`` columns on ``inventory``,
   ``stock_movements`` and ``reservation_lines`` (and ``variant_title``, with a
   default). Nothing the running release reads or writes changes: it goes on
   working against the expanded schema.
2. **Backfill** (this revision, and again at the start of the next). One
   default variant per product that has none, and every stock, ledger and
   reservation row given its product's default variant. The statements only
   touch rows still to do, so running them again is harmless and catches what
   the old release wrote meanwhile.
3. **Switch** (release the new code, then revision ``b84d2f6a9c31``). The new
   release reads and writes by variant; the next revision backfills what the
   old release wrote during the rollout, makes ``variant_id`` NOT NULL and
   keys stock by variant and reservation lines by (order, variant).
4. **Contract** (revision ``b84d2f6a9c31``). The keys by product are dropped;
   ``inventory.product_id`` and ``reservation_lines.product_id`` stay as plain
   indexed columns (sums per product, the search index). ``products.price``
   stays too, now derived: the lowest active variant price.

Downgrade: drops what this revision added (the next one's downgrade refuses
while a product has more than one variant, so nothing is lost silently).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3a7c9e1b5d20"
down_revision: str | None = "dc482363701d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Idempotent: each statement only does what is still to do (see the docstring).
BACKFILL = (
    """
    INSERT INTO product_variants
        (id, product_id, sku, title, options, price, status, position, version,
         created_at, updated_at)
    SELECT gen_random_uuid(), p.id, p.sku, '', '{}'::jsonb, p.price, 'active', 0, 1,
           p.created_at, p.updated_at
    FROM products p
    WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id)
    """,
    *(
        f"""
        UPDATE {table} t SET variant_id = v.id
        FROM product_variants v
        WHERE t.variant_id IS NULL AND v.product_id = t.product_id
        """  # noqa: S608 (table names of this module only)
        for table in ("inventory", "stock_movements", "reservation_lines")
    ),
)


def backfill() -> None:
    for statement in BACKFILL:
        op.execute(statement)


def upgrade() -> None:
    variant_status = postgresql.ENUM("active", "archived", name="variant_status")
    variant_status.create(op.get_bind())
    op.create_table(
        "product_options",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "position BETWEEN 0 AND 2", name=op.f("ck_product_options_at_most_three")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_options_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "position", name=op.f("pk_product_options")),
        sa.UniqueConstraint("product_id", "name", name="uq_product_options_product_id_name"),
    )
    op.create_table(
        "product_variants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=320), nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("compare_at_price", sa.BigInteger(), nullable=True),
        sa.Column(
            "status",
            postgresql.ENUM("active", "archived", name="variant_status", create_type=False),
            nullable=False,
        ),
        sa.Column("weight_grams", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
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
        sa.CheckConstraint("price >= 0", name=op.f("ck_product_variants_price_not_negative")),
        sa.CheckConstraint(
            "compare_at_price >= 0",
            name=op.f("ck_product_variants_compare_at_price_not_negative"),
        ),
        sa.CheckConstraint(
            "weight_grams >= 0", name=op.f("ck_product_variants_weight_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["product_images.id"],
            name=op.f("fk_product_variants_image_id_product_images"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_variants_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_variants")),
        sa.UniqueConstraint("sku", name=op.f("uq_product_variants_sku")),
    )
    op.create_index(
        op.f("ix_product_variants_product_id"), "product_variants", ["product_id"], unique=False
    )
    op.create_index(
        "uq_product_variants_active_combination",
        "product_variants",
        ["product_id", "options"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    for table, ondelete in (
        ("inventory", "CASCADE"),
        ("stock_movements", "CASCADE"),
        ("reservation_lines", "RESTRICT"),
    ):
        op.add_column(table, sa.Column("variant_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f(f"fk_{table}_variant_id_product_variants"),
            table,
            "product_variants",
            ["variant_id"],
            ["id"],
            ondelete=ondelete,
        )
    op.add_column(
        "reservation_lines",
        sa.Column("variant_title", sa.String(length=320), server_default="", nullable=False),
    )
    backfill()


def downgrade() -> None:
    op.drop_column("reservation_lines", "variant_title")
    for table in ("reservation_lines", "stock_movements", "inventory"):
        op.drop_constraint(
            op.f(f"fk_{table}_variant_id_product_variants"), table, type_="foreignkey"
        )
        op.drop_column(table, "variant_id")
    op.drop_index(
        "uq_product_variants_active_combination",
        table_name="product_variants",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_index(op.f("ix_product_variants_product_id"), table_name="product_variants")
    op.drop_table("product_variants")
    op.drop_table("product_options")
    sa.Enum(name="variant_status").drop(op.get_bind())
