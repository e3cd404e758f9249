"""The in-process index looks a search's words up itself (mem_words): as PostgreSQL's
round trip does (pg_prepare), and without a statement once it has met the words."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz.distance import OSA
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.kit.db import unit_of_work
from shop.products import reads
from shop.products.models import ProductStatus
from shop.products.schemas import ProductSearchOut
from shop.products.search import ProductQuery
from shop.products.search.mem_index import CatalogIndex
from shop.products.search.mem_loader import Lexicon, load_index, vocabulary_words
from shop.products.search.mem_words import Vocabulary, look_up
from shop.products.search.pg_prepare import Prepared, prepare
from shop.products.search.pg_text import Word, correct
from tests.products.search_support import (
    Catalog,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)

__all__ = ["search", "search_catalog", "search_tokens"]  # fixtures

words = st.text(alphabet="abcde", min_size=1, max_size=9)


@given(vocabulary=st.sets(words, max_size=40), word=words, typos=st.integers(1, 2))
def test_within_finds_every_catalog_word_within_the_budget_nearest_first(
    vocabulary: set[str], word: str, typos: int
) -> None:
    near = Vocabulary(vocabulary).within(word, typos)
    expected = sorted(
        (OSA.distance(word, other), other)
        for other in vocabulary
        if 0 < OSA.distance(word, other) <= typos
    )
    assert near == [other for _, other in expected]


@given(vocabulary=st.sets(words, max_size=40), prefix=words, limit=st.integers(1, 5))
def test_the_words_a_prefix_begins_are_the_first_in_code_point_order(
    vocabulary: set[str], prefix: str, limit: int
) -> None:
    found = Vocabulary(vocabulary).beginning(prefix, limit)
    assert found == sorted(w for w in vocabulary if w.startswith(prefix))[:limit]


def test_words_added_again_are_one_word() -> None:
    vocabulary = Vocabulary(["lamp"])
    vocabulary.add(["lamp", "lampshade"])
    assert len(vocabulary) == 2
    assert "lampshade" in vocabulary
    assert vocabulary.beginning("lamp") == ["lamp", "lampshade"]


QUERIES = [
    "lamp",
    "lmap",  # a transposition
    "lampshdae desk",
    "brass lampshaed",  # two typos allowed past seven letters
    "the lamp",  # a stop word left out
    "lamp the",  # ... and the last word's completions with it
    "the",  # only stop words: searched anyway
    "lam",  # a prefix
    "la",
    "wirless speker",
    "oak-77",  # digits
    "OAK-77",  # an exact variant SKU, as typed
    "oak-77-red",  # ... in lower case: upper-cased
    "zzzz",
    "café",
]


def _said(prepared: Prepared, index: CatalogIndex) -> tuple[Any, ...]:
    """What a search takes of a lookup: the words with their completions and
    corrections (as sets: their order plays no part), the subtree and the SKU's
    products in the index (PostgreSQL's lookup also names a draft's, which no search
    of the index shows)."""

    def word(w: Word) -> tuple[Any, ...]:
        corrections = {typos: sorted(found) for typos, found in w.corrections.items()}
        return (w.typed, w.prefix, w.completions, corrections)

    return (
        [word(w) for w in correct(prepared.words, prepared.found)],
        sorted(prepared.subtree) if prepared.subtree is not None else None,
        sorted(p for p in prepared.sku_products if index.position_of(p) is not None),
    )


async def _catalog(catalog: Catalog) -> None:
    await catalog.category("Lighting", "lighting")
    await catalog.category("Desk lamps", "desk-lamps", parent="lighting")
    await catalog.category("Garden", "garden")
    rng = random.Random(5)  # noqa: S311 (test data)
    names = ["Brass lamp", "Oak desk", "Lampshade", "Wireless speaker", "Café table", "Lamb"]
    await catalog.products(
        *(
            {
                "name": f"{rng.choice(names)} {n}",
                "description": "A lamp for the desk, with a lampshade",
                "category": rng.choice(["lighting", "desk-lamps", "garden"]),
            }
            for n in range(30)
        ),
        {"name": "Oak shelf", "variants": [{"sku": "OAK-77-RED", "price": 900}]},
        {"name": "Oak stool", "sku": "OAK-77", "status": ProductStatus.DRAFT},
    )


@pytest.mark.parametrize("q", QUERIES)
@pytest.mark.parametrize("category", [None, "lighting", "desk-lamps", "nowhere"])
async def test_the_process_looks_words_up_as_postgresql_does(
    search_catalog: Catalog, q: str, category: str | None
) -> None:
    await _catalog(search_catalog)
    query = ProductQuery.model_validate({"q": q, "category": category})
    lexicon = Lexicon()
    async with unit_of_work(search_catalog.sessionmaker) as session:
        index, _ = await load_index(session)
        vocabulary = Vocabulary(await vocabulary_words(session))
        by_postgresql = await prepare(session, query)
        await lexicon.read(session, query.words)
    by_process = look_up(query, index, vocabulary, lexicon)
    assert _said(by_process, index) == _said(by_postgresql, index)


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements ``engine`` runs meanwhile."""
    ran: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ran.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield ran
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


@pytest.mark.parametrize("search", ["indexed"], indirect=True)
async def test_a_search_of_words_met_before_makes_no_statement(search: SearchFixture) -> None:
    await _catalog(search.catalog)
    state = search.app.state
    await state.search.keeper.load()

    async def listing(q: str) -> bytes:
        query = ProductQuery.model_validate({"q": q, "limit": 5})
        # The read cache's loader: what a search costs when the cache misses.
        return await reads.search_listing(state.sessionmaker, state.search, state.media, query)

    first = await listing("brass lmap")
    # ProductSearchOut's JSON, byte for byte as its model writes it (reads writes it
    # with orjson).
    assert ProductSearchOut.model_validate_json(first).model_dump_json().encode() == first
    assert orjson.loads(first)["facets"]["categories"]
    with statements(state.sessionmaker.kw["bind"]) as ran:
        assert await listing("brass lmap") == first
    assert ran == []
    with statements(state.sessionmaker.kw["bind"]) as ran:
        await listing("brass lapm")  # a typo not met: its analysis, one statement
    assert len(ran) == 1, ran


async def test_the_lexicon_drops_words_a_generation_after_it_is_full(
    search_catalog: Catalog,
) -> None:
    lexicon = Lexicon(size=2)
    async with unit_of_work(search_catalog.sessionmaker) as session:
        await lexicon.read(session, ["lamps", "the"])
        await lexicon.read(session, ["desks", "oak"])  # full: lamps and the are older
        # A search that read them before still finds them (none is lost in flight).
        assert lexicon.lacks(["lamps", "the", "desks"]) == []
        assert "lamp" in lexicon.get("lamps")  # English stem, and as typed
        assert "lamps" in lexicon.get("lamps")
        assert not lexicon.searchable("the")
        assert lexicon.searchable("lamps")
        await lexicon.read(session, ["chair"])  # full again: lamps and the are gone
    assert lexicon.lacks(["lamps", "the", "desks", "chair"]) == ["lamps", "the"]
    assert lexicon.get("lamps") == ()
    assert not lexicon.searchable("the")  # the stop words are kept
