"""order figures: discount, shipping, tax, promotion code, shipping method

Revision ID: 7b3f9d2c4e15
Revises: 20a2e401b3de
Create Date: 2026-12-02 15:40:00.000000

An order keeps every figure it was priced with (shop.orders.pricing.price): its
discount, shipping and tax totals, the promotion code it used and its shipping
method as it was ({id, name, price}); each line its share of the discount and its
tax. Orders placed before have none of these: the server defaults (0, null) say
so, and their totals stay what they were (subtotal = total, line_total = unit_price
* quantity), which the same arithmetic gives with no discount, shipping or tax.

No downtime: every new column has a server default or is nullable, so the previous
release goes on inserting orders while this runs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7b3f9d2c4e15"
down_revision: str | None = "20a2e401b3de"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("discount_total", "shipping_total", "tax_total"):
        op.add_column(
            "orders",
            sa.Column(column, sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        )
    op.add_column("orders", sa.Column("promotion_code", sa.String(length=64), nullable=True))
    op.add_column(
        "orders",
        sa.Column("shipping_method", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.create_check_constraint(
        op.f("ck_orders_figures_not_negative"),
        "orders",
        "discount_total >= 0 AND shipping_total >= 0 AND tax_total >= 0",
    )
    for column in ("discount", "tax"):
        op.add_column(
            "order_lines",
            sa.Column(column, sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        )
    op.create_check_constraint(
        op.f("ck_order_lines_discount_tax_not_negative"),
        "order_lines",
        "discount >= 0 AND tax >= 0",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_order_lines_discount_tax_not_negative"), "order_lines", type_="check"
    )
    op.drop_column("order_lines", "tax")
    op.drop_column("order_lines", "discount")
    op.drop_constraint(op.f("ck_orders_figures_not_negative"), "orders", type_="check")
    for column in ("shipping_method", "promotion_code", "tax_total", "shipping_total"):
        op.drop_column("orders", column)
    op.drop_column("orders", "discount_total")
