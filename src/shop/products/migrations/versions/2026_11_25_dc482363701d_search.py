"""search: unaccent, pg_trgm, a trigger-maintained search vector and its indexes

Revision ID: dc482363701d
Revises: 8e1f0b0282d4
Create Date: 2026-11-25 01:30:00.000000

What autogenerate cannot see lives only here: the extensions, the functions
and triggers that keep ``products.search_vector`` current, and the trigram
index on an expression (``shop_unaccent(name)``), which reflection skips. The
plain indexes are declared on the model as well (shop.products.models).

The extensions are created if missing and left in place on downgrade: other
objects of the database may use them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dc482363701d"
down_revision: str | None = "8e1f0b0282d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schemas() -> tuple[str, str]:
    """Quoted names of our schema and of the unaccent extension's schema.

    Functions used by indexes must not depend on the caller's ``search_path``
    (a restore runs with an empty one), so every name inside them is qualified.
    """
    bind = op.get_bind()
    quote = bind.dialect.identifier_preparer.quote
    ours = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    unaccent = bind.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e"
            " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
        )
    ).scalar_one()
    return quote(ours), quote(unaccent)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    s, u = _schemas()
    dictionary = f"{u}.unaccent".replace("'", "''")

    # unaccent() is only STABLE (it reads a dictionary chosen by search_path); with
    # the dictionary named, the result depends on the argument alone.
    op.execute(f"""
        CREATE FUNCTION {s}.shop_unaccent(text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        AS $$ SELECT {u}.unaccent('{dictionary}'::regdictionary, $1) $$
    """)
    op.execute(f"""
        CREATE FUNCTION {s}.shop_product_search_vector(
            name text, sku text, category text, description text
        ) RETURNS tsvector
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$
            SELECT setweight(to_tsvector('pg_catalog.english',
                                         {s}.shop_unaccent(coalesce(name, ''))), 'A')
                || setweight(to_tsvector('pg_catalog.simple',
                                         {s}.shop_unaccent(coalesce(sku, ''))), 'A')
                || setweight(to_tsvector('pg_catalog.english',
                                         {s}.shop_unaccent(coalesce(category, ''))), 'B')
                || setweight(to_tsvector('pg_catalog.english',
                                         {s}.shop_unaccent(coalesce(description, ''))), 'C')
        $$
    """)
    op.execute(f"""
        CREATE FUNCTION {s}.shop_products_search_vector() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.search_vector IS NOT NULL
               AND NEW.name IS NOT DISTINCT FROM OLD.name
               AND NEW.sku IS NOT DISTINCT FROM OLD.sku
               AND NEW.description IS NOT DISTINCT FROM OLD.description
               AND NEW.category_id IS NOT DISTINCT FROM OLD.category_id THEN
                RETURN NEW;  -- price, status, stock ...: the text is unchanged
            END IF;
            NEW.search_vector := {s}.shop_product_search_vector(
                NEW.name,
                NEW.sku,
                (SELECT c.name FROM {s}.categories c WHERE c.id = NEW.category_id),
                NEW.description
            );
            RETURN NEW;
        END
        $$
    """)  # noqa: S608 (only our quoted schema name is interpolated)
    op.execute(f"""
        CREATE FUNCTION {s}.shop_categories_search_vector() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- A NULL vector makes the products trigger compute it again, with the new name.
            UPDATE {s}.products SET search_vector = NULL WHERE category_id = NEW.id;
            RETURN NULL;
        END
        $$
    """)  # noqa: S608 (only our quoted schema name is interpolated)
    op.execute(f"""
        CREATE TRIGGER products_search_vector
        BEFORE INSERT OR UPDATE ON {s}.products
        FOR EACH ROW EXECUTE FUNCTION {s}.shop_products_search_vector()
    """)
    op.execute(f"""
        CREATE TRIGGER categories_search_vector
        AFTER UPDATE OF name ON {s}.categories
        FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
        EXECUTE FUNCTION {s}.shop_categories_search_vector()
    """)
    op.execute("UPDATE products SET search_vector = NULL")  # fills it for existing rows

    op.create_index(
        "ix_products_search_vector",
        "products",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
    )
    op.execute(
        f"CREATE INDEX ix_products_name_trgm ON {s}.products"
        f" USING gin ({s}.shop_unaccent(name) gin_trgm_ops)"
    )
    # Keyset pagination of every sort order walks one of these (status is always filtered).
    op.create_index(
        "ix_products_status_created_at", "products", ["status", "created_at", "id"], unique=False
    )
    op.create_index("ix_products_status_price", "products", ["status", "price", "id"], unique=False)
    op.create_index("ix_products_status_name", "products", ["status", "name", "id"], unique=False)
    # Counts by category (facets, totals) by an index-only scan.
    op.create_index(
        "ix_products_status_category", "products", ["status", "category_id"], unique=False
    )


def downgrade() -> None:
    s, _ = _schemas()
    op.drop_index("ix_products_status_category", table_name="products")
    op.drop_index("ix_products_status_name", table_name="products")
    op.drop_index("ix_products_status_price", table_name="products")
    op.drop_index("ix_products_status_created_at", table_name="products")
    op.execute(f"DROP INDEX {s}.ix_products_name_trgm")
    op.drop_index("ix_products_search_vector", table_name="products", postgresql_using="gin")
    op.execute(f"DROP TRIGGER categories_search_vector ON {s}.categories")
    op.execute(f"DROP TRIGGER products_search_vector ON {s}.products")
    op.execute(f"DROP FUNCTION {s}.shop_categories_search_vector()")
    op.execute(f"DROP FUNCTION {s}.shop_products_search_vector()")
    op.execute(f"DROP FUNCTION {s}.shop_product_search_vector(text, text, text, text)")
    op.execute(f"DROP FUNCTION {s}.shop_unaccent(text)")
    op.execute("UPDATE products SET search_vector = NULL")
