"""Text search in PostgreSQL: words corrected against the vocabulary, then full text.

Words. The query's words (see :func:`~shop.products.search.query.search_words`),
English stop words left out when others remain. The last word also matches as a
prefix (results while typing). A word the catalog has (``search_vocabulary``), or
for the last word a prefix of one, is taken as typed. Any other word is also
matched by the catalog's words within its typo budget (:func:`typo_budget`: none
under 4 letters, one up to 7, two beyond; a transposition is one typo), found
among its nearest words by trigram distance (the vocabulary's GiST index). Each
word, with its corrections, becomes one tsquery; products are found by the GIN
index of ``search_vector`` and nothing else: no scan of the products table.

Which products. Those that match every word; if none does, those that match the
most words (the best partial matches). The exact SKU always matches.

Ranking, rule by rule (each one only breaks the ties of the one before):

1. most words matched (10,000 points a word);
2. fewest typos (100 points off per typo: a word matched through a correction at
   one edit costs 100, at two 200; as typed costs nothing);
3. field weight: 10 points for each word found in the name (or the SKU);
4. proximity and field weight of the whole text: ``ts_rank_cd`` of the words, scaled
   into 0..1 (close words and words in the name rank higher);
5. the id.

The exact SKU (the product's, or an active variant's) adds 100,000. Every point is
the product's own (no statistics of the catalog take part), so a relevance cursor
keeps its place between pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import OSA
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    ScalarSelect,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from shop.products.models import Product
from shop.products.search.query import typo_budget
from shop.products.search.vocabulary import SearchWord

ENGLISH: ColumnElement[Any] = literal_column("'pg_catalog.english'::regconfig")
SIMPLE: ColumnElement[Any] = literal_column("'pg_catalog.simple'::regconfig")

WORD_POINTS = 10_000
TYPO_POINTS = 100
NAME_POINTS = 10
EXACT_SKU_POINTS = 100_000
# The last word matches as a prefix from this many letters on.
MIN_PREFIX_LENGTH = 2
# Candidates looked at per misspelt word: its nearest catalog words by trigrams.
NEAREST_WORDS = 24
# Catalog words that complete the last word, matched as typed (a stem may be shorter
# than what was typed: "runn" is a prefix of "running", not of its stem "run").
COMPLETIONS = 50


def _unaccent(value: Any) -> ColumnElement[str]:
    return func.shop_unaccent(value)


def _form(word: str, *, prefix: bool = False, name_only: bool = False) -> str:
    """One operand of a tsquery: the word, with ``:*`` to match it as a prefix and
    ``:A`` to match it in the name (or SKU) only. ``word`` is letters and digits only
    (search_words, or a catalog word): no tsquery syntax gets in."""
    marks = ("*" if prefix else "") + ("A" if name_only else "")
    return f"{word}:{marks}" if marks else word


def _tsquery(forms: Sequence[str]) -> ColumnElement[Any]:
    """Any of ``forms`` (see :func:`_form`), as English lexemes (stemmed) or as typed
    (SKUs, names).

    The forms travel as one bound string (``a | b:* | c``), so a statement's shape does
    not depend on how many forms each word has: it is built small and compiled once
    per shape (number of words, typo levels), not once per request."""
    text = _unaccent(" | ".join(forms))
    return func.to_tsquery(ENGLISH, text).op("||")(func.to_tsquery(SIMPLE, text))


def lexemes_of(word: Any) -> ColumnElement[Any]:
    """The lexemes ``to_tsquery`` makes of one word: English (stemmed) and as typed."""
    text = _unaccent(word)
    return func.tsvector_to_array(
        func.to_tsvector(ENGLISH, text).op("||")(func.to_tsvector(SIMPLE, text))
    )


def searchable(word: Any) -> ColumnElement[bool]:
    """Whether ``to_tsquery`` keeps something of the word in English: not a stop word."""
    return func.numnode(func.to_tsquery(ENGLISH, _unaccent(word))) > 0


def vocabulary_lookup() -> ScalarSelect[Any]:
    """For each word, its nearest catalog words (the word itself first if the catalog
    has it), and the catalog words that start with the last one: one JSON array of
    ``[position, word]`` and ``[-1, completion]``, by index. The words are the
    parameters of :func:`vocabulary_parameters`."""
    w = (
        func.unnest(bindparam("words", type_=ARRAY(Text)))
        .table_valued("q", with_ordinality="i")
        .render_derived(name="w")
    )
    nearest = (
        select(SearchWord.word)
        .order_by(SearchWord.word.op("<->")(w.c.q))
        .limit(NEAREST_WORDS)
        .lateral("nearest")
    )
    pairs = select(func.json_build_array(w.c.i, nearest.c.word).label("pair")).select_from(
        w.join(nearest, true())
    )
    # A range on the C-collated key: the btree serves it, whatever the plan.
    completions = (
        select(func.json_build_array(-1, SearchWord.word))
        .where(
            SearchWord.word >= bindparam("last_word", type_=Text),
            SearchWord.word < bindparam("past_last_word", type_=Text),
        )
        .order_by(SearchWord.word)
        .limit(COMPLETIONS)
    )
    both = pairs.union_all(completions).subquery("found")
    return select(func.json_agg(both.c.pair)).scalar_subquery()


def vocabulary_parameters(words: Sequence[str]) -> dict[str, Any]:
    """The values of :func:`vocabulary_lookup`'s parameters."""
    last = words[-1]
    return {
        "words": list(words),
        "last_word": last,
        # The first word after every word that starts with the last one.
        "past_last_word": last[:-1] + chr(ord(last[-1]) + 1),
    }


@dataclass
class Word:
    """A word of the query and what else may stand for it, by number of typos."""

    typed: str
    prefix: bool  # the last word: also a prefix
    completions: list[str] = field(default_factory=list)  # catalog words it begins
    corrections: dict[int, list[str]] = field(default_factory=dict)  # typos -> words


def correct(words: Sequence[str], found: list[list[Any]] | None) -> list[Word]:
    """The words with their corrections, from :func:`vocabulary_lookup`'s answer."""
    nearest: dict[int, list[str]] = {}
    completions: list[str] = []
    for position, word in found or []:
        if position == -1:
            completions.append(word)
        else:
            nearest.setdefault(position - 1, []).append(word)
    result = []
    for i, typed in enumerate(words):
        is_last = i == len(words) - 1
        word = Word(typed, prefix=is_last and len(typed) >= MIN_PREFIX_LENGTH)
        if word.prefix:
            word.completions = [c for c in completions if c != typed]
        candidates = nearest.get(i, [])
        budget = typo_budget(typed) if typed.isalpha() else 0
        known = typed in candidates or bool(word.completions)
        if budget and not known:
            for candidate in candidates:
                typos = OSA.distance(typed, candidate, score_cutoff=budget)
                if 0 < typos <= budget:
                    word.corrections.setdefault(typos, []).append(candidate)
        result.append(word)
    return result


@dataclass
class TextMatch:
    """The SQL of one text search: what to match, how many words, and the points."""

    words: list[Word]
    sku: str
    # Products of which an active variant has ``sku`` as its SKU (looked up before).
    sku_products: list[uuid.UUID] = field(default_factory=list)

    def _typed_forms(self, word: Word, *, name_only: bool = False) -> list[str]:
        return [
            _form(word.typed, prefix=word.prefix, name_only=name_only),
            *(_form(c, name_only=name_only) for c in word.completions),
        ]

    def _all_forms(self, word: Word, *, name_only: bool = False) -> list[str]:
        forms = self._typed_forms(word, name_only=name_only)
        for typos in sorted(word.corrections):
            forms += [_form(c, name_only=name_only) for c in word.corrections[typos]]
        return forms

    def _every_form(self, word: Word, *, name_only: bool = False) -> ColumnElement[Any]:
        return _tsquery(self._all_forms(word, name_only=name_only))

    def _any_word(self) -> ColumnElement[Any]:
        return _tsquery([form for word in self.words for form in self._all_forms(word)])

    def _matches(self, word: Word) -> ColumnElement[bool]:
        return Product.search_vector.op("@@")(self._every_form(word))

    def _exact_sku(self) -> ColumnElement[bool]:
        """The product's SKU, or an active variant's (any case: as typed, or upper)."""
        own = Product.sku.in_(sorted({self.sku, self.sku.upper()}))
        if not self.sku_products:
            return own
        return or_(own, Product.id.in_(self.sku_products))

    def every_word(self) -> ColumnElement[bool]:
        """Matches every word (or is the exact SKU)."""
        every = self._every_form(self.words[0])
        for word in self.words[1:]:
            every = every.op("&&")(self._every_form(word))
        return or_(Product.search_vector.op("@@")(every), self._exact_sku())

    def some_word(self) -> ColumnElement[bool]:
        """Matches at least one word (or is the exact SKU)."""
        return or_(Product.search_vector.op("@@")(self._any_word()), self._exact_sku())

    def words_matched(self) -> ColumnElement[int]:
        counted = [cast(self._matches(word), Integer) for word in self.words]
        total: ColumnElement[int] = counted[0]
        for one in counted[1:]:
            total = total + one
        return total

    def _word_points(self, word: Word) -> ColumnElement[float]:
        vector = Product.search_vector
        points: ColumnElement[Any] = literal(float(WORD_POINTS))
        if word.corrections:
            typos: list[tuple[ColumnElement[bool], float]] = [
                (vector.op("@@")(_tsquery(self._typed_forms(word))), 0.0)
            ]
            for count in sorted(word.corrections)[:-1]:
                forms = _tsquery([_form(c) for c in word.corrections[count]])
                typos.append((vector.op("@@")(forms), float(count * TYPO_POINTS)))
            worst = float(max(word.corrections) * TYPO_POINTS)
            points = points - case(*typos, else_=worst)
        in_name = vector.op("@@")(self._every_form(word, name_only=True))
        return points + case((in_name, float(NAME_POINTS)), else_=0.0)

    def score(self, *, every_word: bool) -> ColumnElement[float]:
        """The points of a product that matches (``every_word``: all the words, so
        none needs checking)."""
        total: ColumnElement[Any] | None = None
        for word in self.words:
            points = self._word_points(word)
            if not every_word:
                points = case((self._matches(word), points), else_=0.0)
            total = points if total is None else total + points
        assert total is not None  # there is always a word
        everything = self._any_word()
        # Normalization 32: rank / (rank + 1), into 0..1, below one name point.
        closeness = cast(func.ts_rank_cd(Product.search_vector, everything, 32), Float)
        sku = case((self._exact_sku(), float(EXACT_SKU_POINTS)), else_=0.0)
        return cast(total + closeness + sku, Float)


def text_match(
    words: Sequence[str],
    found: list[list[Any]] | None,
    text: str,
    sku_products: Sequence[uuid.UUID] = (),
) -> TextMatch:
    return TextMatch(correct(words, found), text, list(sku_products))
