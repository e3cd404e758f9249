"""The words of a search, looked up in the process: what ``pg_prepare.prepare`` asks of
PostgreSQL, answered from the in-process index and the catalog's vocabulary.

:class:`Vocabulary` holds the catalog's words (``search_vocabulary``: every word its
products' names and descriptions and its categories' names have had), followed by the
index's catch-ups. :func:`look_up` then finds, for each word, whether the catalog has
it, its corrections within the typo budget and, for the last word, the catalog words it
begins, as ``pg_text.vocabulary_lookup`` does; the category subtree and the exact
SKU's products from the index. A word's own analysis (an English stop word? its
lexemes) comes from the :class:`~shop.products.search.mem_loader.Lexicon`, into which
the caller has read the words no search met before (one round trip; a search of
known words makes none).

One difference with PostgreSQL, on purpose: PostgreSQL corrects a word among its 24
nearest catalog words by trigrams (what its GiST index finds quickly), the process
among every catalog word within the budget (a scan of the words of the lengths the
budget allows, in C through rapidfuzz: ~15 µs per 1,000 words). They find the same
corrections unless more than 24 catalog words are nearer by trigrams than one within
the budget; then the process finds more, as the rule says.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import read_only
from shop.products.search.mem_index import CatalogIndex
from shop.products.search.mem_loader import Lexicon, forms_of, word_forms
from shop.products.search.mem_query import WordForms
from shop.products.search.pg_prepare import Prepared
from shop.products.search.pg_text import COMPLETIONS, correct
from shop.products.search.query import ProductQuery, typo_budget

__all__ = ["Vocabulary", "look_up", "words_of"]


class Vocabulary:
    """The catalog's words: whether it has one, the words within a number of typos of
    one, and the words that begin with a prefix."""

    def __init__(self, words: Iterable[str] = ()) -> None:
        self._words: set[str] = set()
        self._by_length: dict[int, list[str]] = {}
        self._sorted: list[str] | None = None  # made again after words are added
        self.add(words)

    def add(self, words: Iterable[str]) -> None:
        for word in words:
            if word not in self._words:
                self._words.add(word)
                self._by_length.setdefault(len(word), []).append(word)
                self._sorted = None

    def __contains__(self, word: object) -> bool:
        return word in self._words

    def __len__(self) -> int:
        return len(self._words)

    def within(self, word: str, typos: int) -> list[str]:
        """The catalog's words 1 to ``typos`` edits from ``word`` (a transposition is
        one), nearest first, then in code point order."""
        found: list[tuple[int, str]] = []
        for length in range(len(word) - typos, len(word) + typos + 1):
            words = self._by_length.get(length)
            if words:
                found += [
                    (distance, candidate)
                    for candidate, distance, _ in process.extract(
                        word, words, scorer=OSA.distance, score_cutoff=typos, limit=None
                    )
                    if distance
                ]
        return [candidate for _, candidate in sorted(found)]

    def beginning(self, prefix: str, limit: int = COMPLETIONS) -> list[str]:
        """The first ``limit`` catalog words that begin with ``prefix`` (itself included),
        in code point order (the vocabulary's C collation)."""
        if self._sorted is None:
            self._sorted = sorted(self._words)
        found: list[str] = []
        for word in self._sorted[bisect.bisect_left(self._sorted, prefix) :]:
            if len(found) == limit or not word.startswith(prefix):
                break
            found.append(word)
        return found


def _nearest(words: Sequence[str], vocabulary: Vocabulary, *, last: bool) -> list[list[Any]]:
    """``vocabulary_lookup``'s answer for ``words``: ``[position, word]`` for each word
    the catalog has (itself) or its corrections, and ``[-1, word]`` for the catalog
    words the last one begins (``last``: the last word typed is among ``words``)."""
    found: list[list[Any]] = []
    for position, word in enumerate(words, start=1):
        if word in vocabulary:
            found.append([position, word])
        elif word.isalpha() and (budget := typo_budget(word)):
            found += [[position, near] for near in vocabulary.within(word, budget)]
    if last:
        found += [[-1, word] for word in vocabulary.beginning(words[-1])]
    return found


def look_up(
    query: ProductQuery, index: CatalogIndex, vocabulary: Vocabulary, lexicon: Lexicon
) -> Prepared:
    """What :func:`~shop.products.search.pg_prepare.prepare` finds, from the process.
    ``lexicon`` has read the typed words (whether each is a stop word)."""
    typed = list(query.words)
    subtree = sorted(index.subtree(query.category)) if query.category is not None else None
    if not typed:
        return Prepared([], subtree, None, [])
    assert query.q is not None
    # English stop words are left out when others remain; the completions are the last
    # typed word's, so none when it is left out.
    words = [word for word in typed if lexicon.searchable(word)] or typed
    last_kept = lexicon.searchable(typed[-1]) or len(words) == len(typed)
    found = _nearest(words, vocabulary, last=last_kept)
    sku_products = index.with_sku(query.q) | index.with_sku(query.q.upper())
    return Prepared(words, subtree, found, sorted(sku_products))


async def words_of(
    session: AsyncSession,
    query: ProductQuery,
    index: CatalogIndex,
    vocabulary: Vocabulary,
    lexicon: Lexicon,
    *,
    outside_transaction: bool = False,
) -> tuple[Prepared, tuple[WordForms, ...]]:
    """:func:`look_up`, and the words as the index's lexemes: a statement only for words
    the lexicon has not read (``outside_transaction``: see ``shop.kit.db.read_only``)."""

    async def read(words: Iterable[str]) -> None:
        if lexicon.lacks(words):
            if outside_transaction:
                await read_only(session)
            await lexicon.read(session, words)

    await read(query.words)
    prepared = look_up(query, index, vocabulary, lexicon)
    words = correct(prepared.words, prepared.found)
    await read(forms_of(words))
    return prepared, word_forms(words, lexicon)
