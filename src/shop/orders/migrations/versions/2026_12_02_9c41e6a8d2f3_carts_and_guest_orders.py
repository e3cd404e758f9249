"""carts and their lines; guest orders, checked out from carts

Revision ID: 9c41e6a8d2f3
Revises: 7b3f9d2c4e15
Create Date: 2026-12-02 15:45:00.000000

New tables ``carts`` and ``cart_lines`` (a cart's lines are read through the
index on (cart_id, position)). Orders gain the cart they were checked out from,
the hash of a guest order's token, and their payment provider (``manual`` for
every order placed so before); ``user_id`` becomes nullable for guest orders.

No downtime: new tables, nullable columns or server defaults. Downgrade fails
while guest orders exist (the older schema cannot hold an order without a user).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9c41e6a8d2f3"
down_revision: str | None = "7b3f9d2c4e15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("status", sa.Enum("open", "completed", name="cart_status"), nullable=False),
        sa.Column("shipping_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("shipping_method_id", sa.Uuid(), nullable=True),
        sa.Column("promotion_code", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
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
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carts")),
    )
    op.create_index("ix_carts_expires_at", "carts", ["expires_at"], unique=False)
    op.create_index(
        "ix_carts_user",
        "carts",
        ["user_id"],
        unique=False,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_table(
        "cart_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cart_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["carts.id"],
            name=op.f("fk_cart_lines_cart_id_carts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_lines")),
        sa.UniqueConstraint("cart_id", "variant_id", name="uq_cart_lines_cart_variant"),
    )
    op.create_index(
        "ix_cart_lines_cart_position", "cart_lines", ["cart_id", "position"], unique=False
    )
    op.add_column("orders", sa.Column("cart_id", sa.Uuid(), nullable=True))
    op.add_column("orders", sa.Column("order_token_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "orders",
        sa.Column(
            "payment_provider", sa.String(length=20), server_default="manual", nullable=False
        ),
    )
    op.alter_column("orders", "user_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    op.alter_column("orders", "user_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_column("orders", "payment_provider")
    op.drop_column("orders", "order_token_hash")
    op.drop_column("orders", "cart_id")
    op.drop_index("ix_cart_lines_cart_position", table_name="cart_lines")
    op.drop_table("cart_lines")
    op.drop_index(
        "ix_carts_user", table_name="carts", postgresql_where=sa.text("user_id IS NOT NULL")
    )
    op.drop_index("ix_carts_expires_at", table_name="carts")
    op.drop_table("carts")
    sa.Enum(name="cart_status").drop(op.get_bind(), checkfirst=False)
