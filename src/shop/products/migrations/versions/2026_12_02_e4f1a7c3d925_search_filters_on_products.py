"""search filters on the products row: what variant filters need, kept by triggers

Revision ID: e4f1a7c3d925
Revises: 7d1e4a9c2b6f
Create Date: 2026-12-02 23:00:00.000000

Four columns on ``products``, derived from its active variants and their stock
(shop.products.search.pg_variants reads them):

- ``max_price``: the highest active variant price (NULL without an active variant;
  ``price`` is already the lowest);
- ``stocked``: whether an active variant has units available;
- ``option_pairs``: the distinct option values of its active variants, each the
  JSON pair ``["Size", "M"]`` as text, in code point order;
- ``stocked_pairs``: those of active variants with units available.

Statement-level triggers on ``product_variants`` and ``inventory`` (with transition
tables: one refresh per statement, however many rows it wrote) recompute them for
the products a statement touched, and write only those that changed (a stock
change that does not empty or refill a product leaves its row alone). A covering
index ``(status, sample, category_id) INCLUDE (price, max_price, stocked, id)``
replaces ``ix_products_status_category`` so that counts with price and stock
filters stay index-only; ``sample``, a stored generated column, is the last
hexadecimal digit of the id: '0' is the one-in-16 sample that estimates the
counts of large result sets (shop.products.search.pg_counts). The trigram index
on ``shop_unaccent(name)``, which searches no longer read (5b7e2c9d41a3), is
dropped: it cost every product write.

Downgrade: drops the triggers, functions, columns and the covering index, and
restores the two indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e4f1a7c3d925"
down_revision: str | None = "7d1e4a9c2b6f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = (  # (table, operation, REFERENCING clause, products of the statement)
    ("product_variants", "INSERT", "NEW TABLE AS new_rows", "SELECT product_id FROM new_rows"),
    (
        "product_variants",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT product_id FROM new_rows UNION SELECT product_id FROM old_rows",
    ),
    ("product_variants", "DELETE", "OLD TABLE AS old_rows", "SELECT product_id FROM old_rows"),
    ("inventory", "INSERT", "NEW TABLE AS new_rows", "SELECT product_id FROM new_rows"),
    (
        "inventory",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT product_id FROM new_rows UNION SELECT product_id FROM old_rows",
    ),
    ("inventory", "DELETE", "OLD TABLE AS old_rows", "SELECT product_id FROM old_rows"),
)


def _schema() -> str:
    bind = op.get_bind()
    ours = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return str(bind.dialect.identifier_preparer.quote(ours))


def refresh_sql(s: str, which: str) -> str:
    """An UPDATE of the four columns for the products ``which`` selects (a condition
    on ``v.product_id`` and ``ids.id``), writing only those that change."""
    return f"""
        WITH variant AS (
            SELECT v.product_id, v.price, v.options,
                   coalesce(i.on_hand - i.reserved, 0) > 0 AS stocked
            FROM {s}.product_variants v
            LEFT JOIN {s}.inventory i ON i.variant_id = v.id
            WHERE v.status = 'active' AND {which.format(column="v.product_id")}
        ), summary AS (
            SELECT product_id, max(price) AS max_price, bool_or(stocked) AS stocked
            FROM variant GROUP BY product_id
        ), pair AS (
            SELECT v.product_id,
                   jsonb_build_array(o.key, o.value)::text COLLATE "C" AS pair,
                   bool_or(v.stocked) AS stocked
            FROM variant v, jsonb_each_text(v.options) o
            GROUP BY 1, 2
        ), pairs AS (
            SELECT product_id,
                   array_agg(pair ORDER BY pair) AS option_pairs,
                   array_agg(pair ORDER BY pair) FILTER (WHERE stocked) AS stocked_pairs
            FROM pair GROUP BY product_id
        ), found AS (
            SELECT p.id, s.max_price, coalesce(s.stocked, false) AS stocked,
                   coalesce(x.option_pairs, '{{}}') AS option_pairs,
                   coalesce(x.stocked_pairs, '{{}}') AS stocked_pairs
            FROM {s}.products p
            LEFT JOIN summary s ON s.product_id = p.id
            LEFT JOIN pairs x ON x.product_id = p.id
            WHERE {which.format(column="p.id")}
        )
        UPDATE {s}.products p
        SET max_price = f.max_price, stocked = f.stocked,
            option_pairs = f.option_pairs, stocked_pairs = f.stocked_pairs
        FROM found f
        WHERE p.id = f.id
          AND (p.max_price, p.stocked, p.option_pairs, p.stocked_pairs)
              IS DISTINCT FROM (f.max_price, f.stocked, f.option_pairs, f.stocked_pairs)
    """  # noqa: S608 (only our quoted schema name is interpolated)


def upgrade() -> None:
    s = _schema()
    op.add_column("products", sa.Column("max_price", sa.BigInteger(), nullable=True))
    op.add_column(
        "products",
        sa.Column("stocked", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    for column in ("option_pairs", "stocked_pairs"):
        op.add_column(
            "products",
            sa.Column(
                column,
                postgresql.ARRAY(sa.Text()),
                server_default=sa.text("'{}'::text[]"),
                nullable=False,
            ),
        )
    op.execute(f"""
        CREATE FUNCTION {s}.shop_refresh_product_filters(ids uuid[]) RETURNS void
        LANGUAGE sql AS $$ {refresh_sql(s, "{column} = ANY (ids)")} $$
    """)
    for table, operation, referencing, products in TRIGGERS:
        name = f"{table}_{operation.lower()}_product_filters"
        op.execute(f"""
            CREATE FUNCTION {s}.shop_{name}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM {s}.shop_refresh_product_filters(ARRAY({products}));
                RETURN NULL;
            END
            $$
        """)
        op.execute(f"""
            CREATE TRIGGER {name} AFTER {operation} ON {s}.{table}
            REFERENCING {referencing}
            FOR EACH STATEMENT EXECUTE FUNCTION {s}.shop_{name}()
        """)
    op.execute(refresh_sql(s, "true"))  # every product, in one pass
    op.drop_index("ix_products_status_category", table_name="products")
    op.add_column(
        "products",
        sa.Column(
            "sample",
            sa.Text(),
            sa.Computed("right((id)::text, 1)", persisted=True),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_products_status_sample_category",
        "products",
        ["status", "sample", "category_id"],
        unique=False,
        postgresql_include=["price", "max_price", "stocked", "id"],
    )
    op.execute(f"DROP INDEX {s}.ix_products_name_trgm")


def downgrade() -> None:
    s = _schema()
    op.execute(
        f"CREATE INDEX ix_products_name_trgm ON {s}.products"
        f" USING gin ({s}.shop_unaccent(name) gin_trgm_ops)"
    )
    op.drop_index("ix_products_status_sample_category", table_name="products")
    op.create_index(
        "ix_products_status_category", "products", ["status", "category_id"], unique=False
    )
    for table, operation, _, _ in TRIGGERS:
        name = f"{table}_{operation.lower()}_product_filters"
        op.execute(f"DROP TRIGGER {name} ON {s}.{table}")
        op.execute(f"DROP FUNCTION {s}.shop_{name}()")
    op.execute(f"DROP FUNCTION {s}.shop_refresh_product_filters(uuid[])")
    for column in ("sample", "stocked_pairs", "option_pairs", "stocked", "max_price"):
        op.drop_column("products", column)
