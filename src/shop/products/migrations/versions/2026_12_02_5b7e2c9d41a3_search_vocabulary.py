"""search vocabulary: the catalog's words, kept by triggers, for typo correction

Revision ID: 5b7e2c9d41a3
Revises: b84d2f6a9c31
Create Date: 2026-12-02 12:30:00.000000

A table of words (shop.products.search.vocabulary), a trigram GiST index on it,
and triggers that add the words of a product's name and description and of a
category's name whenever they are written. Search-only: nothing else reads it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2c9d41a3"
down_revision: str | None = "b84d2f6a9c31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str:
    bind = op.get_bind()
    ours = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return str(bind.dialect.identifier_preparer.quote(ours))


def upgrade() -> None:
    op.create_table(
        "search_vocabulary",
        sa.Column("word", sa.Text(collation="C"), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_search_vocabulary")),
    )
    op.create_index(
        "ix_search_vocabulary_word_trgm",
        "search_vocabulary",
        ["word"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={"word": "gist_trgm_ops"},
    )
    s = _schema()
    # The words as the search cuts them (shop.products.search.query.search_words):
    # unaccented, lowercased, letters only; hyphenated words in their parts.
    op.execute(f"""
        CREATE FUNCTION {s}.shop_add_search_words(text) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO {s}.search_vocabulary (word)
            SELECT DISTINCT word
            FROM unnest(tsvector_to_array(
                to_tsvector('pg_catalog.simple', {s}.shop_unaccent(coalesce($1, ''))))) AS word
            WHERE word ~ '^[[:alpha:]]{{3,}}$'
            ON CONFLICT DO NOTHING
        $$
    """)  # noqa: S608 (only our quoted schema name is interpolated)
    op.execute(f"""
        CREATE FUNCTION {s}.shop_products_search_words() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE'
               AND NEW.name IS NOT DISTINCT FROM OLD.name
               AND NEW.description IS NOT DISTINCT FROM OLD.description THEN
                RETURN NULL;
            END IF;
            PERFORM {s}.shop_add_search_words(NEW.name || ' ' || coalesce(NEW.description, ''));
            RETURN NULL;
        END
        $$
    """)
    op.execute(f"""
        CREATE FUNCTION {s}.shop_categories_search_words() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM {s}.shop_add_search_words(NEW.name);
            RETURN NULL;
        END
        $$
    """)
    op.execute(f"""
        CREATE TRIGGER products_search_words
        AFTER INSERT OR UPDATE OF name, description ON {s}.products
        FOR EACH ROW EXECUTE FUNCTION {s}.shop_products_search_words()
    """)
    op.execute(f"""
        CREATE TRIGGER categories_search_words
        AFTER INSERT OR UPDATE OF name ON {s}.categories
        FOR EACH ROW EXECUTE FUNCTION {s}.shop_categories_search_words()
    """)
    everything = f"{s}.shop_add_search_words(name || ' ' || coalesce(description, ''))"
    op.execute(f"SELECT {everything} FROM {s}.products")  # noqa: S608
    op.execute(f"SELECT {s}.shop_add_search_words(name) FROM {s}.categories")  # noqa: S608


def downgrade() -> None:
    s = _schema()
    op.execute(f"DROP TRIGGER categories_search_words ON {s}.categories")
    op.execute(f"DROP TRIGGER products_search_words ON {s}.products")
    op.execute(f"DROP FUNCTION {s}.shop_categories_search_words()")
    op.execute(f"DROP FUNCTION {s}.shop_products_search_words()")
    op.execute(f"DROP FUNCTION {s}.shop_add_search_words(text)")
    op.drop_index(
        "ix_search_vocabulary_word_trgm",
        table_name="search_vocabulary",
        postgresql_using="gist",
        postgresql_ops={"word": "gist_trgm_ops"},
    )
    op.drop_table("search_vocabulary")
