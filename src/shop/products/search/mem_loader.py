"""What the in-process index reads of PostgreSQL: the active catalog, and the lexemes of
a query's words (their forms as ``pg_text.correct`` found them)."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from shop.products.search.mem_index import (
    CatalogIndex,
    IndexedCategory,
    IndexedProduct,
    IndexedVariant,
)
from shop.products.search.mem_query import WordForms
from shop.products.search.pg_text import Word, lexemes_of, searchable
from shop.products.search.vocabulary import SearchWord

__all__ = [
    "Lexicon",
    "ProductChange",
    "categories",
    "changed_products",
    "forms_of",
    "load_index",
    "product_of",
    "read_products",
    "versions_of",
    "vocabulary_words",
    "word_forms",
]

# A tsvector's text: 'lexeme':1A,5 'other':3B ...
_LEXEME = re.compile(r"'((?:[^']|'')*)'(?::([0-9A-D,]+))?")

# A product's version: its row's and its variants' and their stock's row versions
# (xmin: every update writes a new one). A catch-up reads the versions of the products
# written lately, and the products only where a version moved.
_VERSION = """
    p.xmin::text || ':' || coalesce((
        SELECT string_agg(v.xmin::text || '.' || coalesce(i.xmin::text, '-'), ',' ORDER BY v.id)
          FROM product_variants v LEFT JOIN inventory i ON i.variant_id = v.id
         WHERE v.product_id = p.id), '')
"""
# Products with their active variants: SKU, price, option pairs (as the products row
# keeps them), and whether units are available. {where} filters the products.
_PRODUCTS = """
    SELECT p.id, p.status, p.created_at, p.category_id, p.price, p.name,
           p.search_vector::text AS vector, {version} AS version,
           coalesce(json_agg(json_build_array(
               v.sku,
               v.price,
               (SELECT coalesce(array_agg(jsonb_build_array(o.key, o.value)::text), '{{}}')
                  FROM jsonb_each_text(v.options) AS o),
               coalesce(i.on_hand - i.reserved, 0) > 0
           )) FILTER (WHERE v.id IS NOT NULL), '[]') AS variants
      FROM products p
      LEFT JOIN product_variants v ON v.product_id = p.id AND v.status = 'active'
      LEFT JOIN inventory i ON i.variant_id = v.id
     WHERE {where}
     GROUP BY p.id
"""
_ACTIVE = text(_PRODUCTS.format(version=_VERSION, where="p.status = 'active'"))
_BY_IDS = text(_PRODUCTS.format(version=_VERSION, where="p.id = ANY(CAST(:ids AS uuid[]))"))
# What changed since: the product, a variant, a variant's stock (triggers that copy
# variants into the products row do not touch its updated_at), or its category.
_CHANGED_TEMPLATE = """SELECT p.id, p.status = 'active' AS active, {version} AS version
      FROM products p
     WHERE p.updated_at >= :since
        OR p.category_id = ANY(CAST(:categories AS uuid[]))
        OR EXISTS (SELECT 1 FROM product_variants c
                    WHERE c.product_id = p.id AND c.updated_at >= :since)
        OR EXISTS (SELECT 1 FROM inventory c
                    WHERE c.product_id = p.id AND c.updated_at >= :since)"""
_CHANGED = text(_CHANGED_TEMPLATE.format(version=_VERSION))
_VERSIONS_TEMPLATE = (
    "SELECT p.id, {version} AS version FROM products p WHERE p.id = ANY(CAST(:ids AS uuid[]))"
)
_VERSIONS = text(_VERSIONS_TEMPLATE.format(version=_VERSION))
_CATEGORIES = text("SELECT id, path, slug, name FROM categories")
_VOCABULARY = select(SearchWord.word)
# Names the collations differ on (case, accents, punctuation, digits, other scripts):
# if the database sorts them as Python does, by code point, its name order is Python's
# (C, POSIX, C.UTF-8); a language's collation (en_US ...) is not, and PostgreSQL keeps
# the name sort.
COLLATION_PROBE = ("a", "B", "b", "Z", "_x", "-x", " x", "10", "9", "é", "e", "f", "Ä", "ß", "ж")
_COLLATED = text("SELECT array_agg(s ORDER BY s) FROM unnest(CAST(:probe AS text[])) AS s")
# The lexemes of each form, as to_tsquery makes them (pg_text.lexemes_of), and whether
# it is more than an English stop word (as pg_prepare asks of the typed words).
_FORMS = (
    func.unnest(bindparam("forms", type_=ARRAY(Text))).table_valued("f").render_derived("forms")
)
_LEXEMES = select(_FORMS.c.f, lexemes_of(_FORMS.c.f), searchable(_FORMS.c.f))


def _lexemes(vector: str | None) -> dict[str, str]:
    # Interned: the catalog's products share a few thousand lexemes, not one copy each.
    found = {}
    for match in _LEXEME.finditer(vector or ""):
        weights = "".join(sorted(set(re.sub(r"[0-9,]", "", match.group(2) or "")))) or "D"
        found[sys.intern(match.group(1).replace("''", "'"))] = sys.intern(weights)
    return found


def product_of(row: Any) -> IndexedProduct:
    return IndexedProduct(
        id=row.id,
        created_at=row.created_at,
        category_id=row.category_id,
        lexemes=_lexemes(row.vector),
        variants=tuple(
            IndexedVariant(sku=sku, price=price, pairs=frozenset(pairs), stocked=stocked)
            for sku, price, pairs, stocked in row.variants
        ),
        price=row.price,
        name=sys.intern(row.name),
    )


async def categories(session: AsyncSession) -> dict[uuid.UUID, tuple[IndexedCategory, str]]:
    """Each category, with its name (a new name changes its products' vectors)."""
    return {
        row.id: (IndexedCategory(path=row.path, slug=row.slug), row.name)
        for row in await session.execute(_CATEGORIES)
    }


@dataclass(frozen=True)
class ProductChange:
    id: uuid.UUID
    active: bool
    version: str


async def load_index(session: AsyncSession) -> tuple[CatalogIndex, dict[uuid.UUID, str]]:
    """The active catalog as it is in ``session``'s snapshot, and each product's version."""
    known = {category: facts for category, (facts, _) in (await categories(session)).items()}
    rows = (await session.execute(_ACTIVE)).all()
    versions = {row.id: row.version for row in rows}
    index = CatalogIndex.of(known, (product_of(row) for row in rows))
    ordered = await session.scalar(_COLLATED, {"probe": list(COLLATION_PROBE)})
    index.names_in_code_point_order = ordered == sorted(COLLATION_PROBE)
    return index, versions


async def vocabulary_words(session: AsyncSession, since: datetime | None = None) -> list[str]:
    """The catalog's words (search_vocabulary), or those added since ``since``."""
    statement = _VOCABULARY if since is None else _VOCABULARY.where(SearchWord.added_at >= since)
    return list(await session.scalars(statement))


async def changed_products(
    session: AsyncSession, since: datetime, categories: Iterable[uuid.UUID]
) -> list[ProductChange]:
    """The products written since ``since`` or in ``categories``: their versions."""
    rows = await session.execute(_CHANGED, {"since": since, "categories": list(categories)})
    return [ProductChange(row.id, row.active, row.version) for row in rows]


async def read_products(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Any]:
    """The rows of products ``ids`` (each read by :func:`product_of`; ``.version`` and
    ``.status`` too)."""
    return list((await session.execute(_BY_IDS, {"ids": list(ids)})).all())


async def versions_of(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The versions of products ``ids`` (those that exist)."""
    rows = await session.execute(_VERSIONS, {"ids": list(ids)})
    return dict(rows.tuples().all())


class Lexicon:
    """The words searches met (typed, and the catalog words that correct or complete
    them), as :data:`_LEXEMES` reads them: their lexemes, and whether each is more than
    an English stop word.

    A word's analysis never changes (the text search configuration is fixed), so it is
    kept: a search reads only the words no search met before, in one round trip. Past
    ``size`` words (typos are endless) the words read so far become the older
    generation, dropped at the next turn: never a word a search in flight has read.
    The stop words are few (the language's list): all kept."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._known: dict[str, tuple[str, ...]] = {}
        self._older: dict[str, tuple[str, ...]] = {}
        self._stop_words: set[str] = set()

    def lacks(self, forms: Iterable[str]) -> list[str]:
        """Those of ``forms`` it has not read, in order."""
        # Not ``set(forms) - self._known.keys()``: that copies every key known.
        return sorted({f for f in forms if f not in self._known and f not in self._older})

    async def read(self, session: AsyncSession, forms: Iterable[str]) -> None:
        """Reads those of ``forms`` it has not read yet, in one statement."""
        missing = self.lacks(forms)
        if not missing:
            return
        if len(self._known) + len(missing) > self.size:
            self._older, self._known = self._known, {}
        for form, lexemes, is_searchable in await session.execute(_LEXEMES, {"forms": missing}):
            self._known[form] = tuple(lexemes)
            if not is_searchable:
                self._stop_words.add(form)

    def get(self, form: str) -> tuple[str, ...]:
        found = self._known.get(form)
        return found if found is not None else self._older.get(form, ())

    def searchable(self, form: str) -> bool:
        """More than an English stop word (a word read: see :meth:`read`)."""
        return form not in self._stop_words

    def __len__(self) -> int:
        return len(self._known) + len(self._older)


def forms_of(words: Sequence[Word]) -> set[str]:
    """The forms :func:`word_forms` needs the lexemes of: the typed words, their
    completions and corrections."""
    forms = {word.typed for word in words}
    forms |= {form for word in words for form in word.completions}
    forms |= {form for word in words for found in word.corrections.values() for form in found}
    return forms


def word_forms(words: Sequence[Word], lexicon: Lexicon) -> tuple[WordForms, ...]:
    """The words (as ``pg_text.correct`` left them) as the catalog's lexemes, from
    ``lexicon``, which has read :func:`forms_of` them."""

    def of(found: Sequence[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(x for form in found for x in lexicon.get(form)))

    return tuple(
        WordForms(
            # As a prefix, the typed word's lexemes cover the word itself.
            typed=of(word.completions if word.prefix else [word.typed, *word.completions]),
            prefixes=of([word.typed]) if word.prefix else (),
            corrections={typos: of(found) for typos, found in word.corrections.items()},
        )
        for word in words
    )
