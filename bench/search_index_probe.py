"""Probe: what a search costs answered from bitmaps in the process instead of PostgreSQL.

Not the search (no price filter, cursor, or rule 4 of the ranking; see docs/search.md,
"What the targets need"): a measurement of the design it describes, on a seeded
products database, with the bench's searches (bench/search.py).

    SHOP_DATA_DIR=/tmp/data-100k .venv/bin/python -m bench.search_index_probe --count 300

It loads the active products (their ``search_vector``, category, stock and option
pairs), builds one bitmap (a Python int, a bit per product, positions in
``(created_at, id)`` order) per lexeme (all weights, and weight A: the name), per
category subtree and per option pair, then for each search: the backend's own round
trip before a search (``pg_prepare.prepare``: corrections and completions), one more
for the lexemes of the words' forms, and in the process the words' bitmaps, the
tier of most words matched (a bit-sliced count), its category and option facets (a
population count each), and the page (typos, then words in the name, then newest).
It prints the CPU of each part per search.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import re
import resource
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.search import search_paths
from shop.cli.config import CliSettings
from shop.cli.system import data_layer
from shop.kit.config import to_async_database_url
from shop.kit.db import create_sessionmaker, unit_of_work
from shop.products.search import ProductQuery
from shop.products.search.mem_bitmaps import count_add, count_equal, highest
from shop.products.search.pg_prepare import prepare
from shop.products.search.pg_text import correct

# A tsvector's text: 'lexeme':1A,5 'other':3B ...
_LEXEME = re.compile(r"'((?:[^']|'')*)'(?::([0-9A-D,]+))?")

_ROWS = text(
    "SELECT id, created_at, category_id, search_vector::text AS vector, stocked,"
    " option_pairs FROM products WHERE status = 'active'"
)
_LEXEMES = text(
    "SELECT f, coalesce(tsvector_to_array("
    "to_tsvector('pg_catalog.english', shop_unaccent(f))"
    " || to_tsvector('pg_catalog.simple', shop_unaccent(f))), '{}')"
    " FROM unnest(CAST(:forms AS text[])) AS f"
)


def bitmap(positions: Iterable[int], size: int) -> int:
    """The set of ``positions`` as an int (one pass, not an OR per bit)."""
    raw = bytearray((size + 7) // 8)
    for position in positions:
        raw[position >> 3] |= 1 << (position & 7)
    return int.from_bytes(raw, "little")


class Index:
    def __init__(self, rows: list[Any], categories: dict[uuid.UUID, str]) -> None:
        rows.sort(key=lambda row: (row.created_at, row.id))
        size = len(rows)
        self.ids = [row.id for row in rows]
        anywhere: dict[str, list[int]] = defaultdict(list)
        in_name: dict[str, list[int]] = defaultdict(list)
        by_category: dict[uuid.UUID, list[int]] = defaultdict(list)
        by_pair: dict[str, list[int]] = defaultdict(list)
        stocked = []
        for i, row in enumerate(rows):
            for match in _LEXEME.finditer(row.vector or ""):
                lexeme = match.group(1).replace("''", "'")
                anywhere[lexeme].append(i)
                if "A" in (match.group(2) or ""):
                    in_name[lexeme].append(i)
            by_category[row.category_id].append(i)
            for pair in row.option_pairs or ():
                by_pair[pair].append(i)
            if row.stocked:
                stocked.append(i)
        self.anywhere = {k: bitmap(v, size) for k, v in anywhere.items()}
        self.in_name = {k: bitmap(v, size) for k, v in in_name.items()}
        self.lexemes = sorted(self.anywhere)
        leaf = {k: bitmap(v, size) for k, v in by_category.items()}
        self.subtree = {}
        for category, path in categories.items():
            below = 0
            for other, other_path in categories.items():
                if other_path == path or other_path.startswith(path + "/"):
                    below |= leaf.get(other, 0)
            self.subtree[category] = below
        self.pairs = {k: bitmap(v, size) for k, v in by_pair.items()}
        self.stocked = bitmap(stocked, size)
        self.everything = (1 << size) - 1

    def of(self, lexemes: Sequence[str], *, prefix: bool = False, name: bool = False) -> int:
        table = self.in_name if name else self.anywhere
        found = 0
        for lexeme in lexemes:
            if not prefix:
                found |= table.get(lexeme, 0)
                continue
            i = bisect.bisect_left(self.lexemes, lexeme)
            while i < len(self.lexemes) and self.lexemes[i].startswith(lexeme):
                found |= table.get(self.lexemes[i], 0)
                i += 1
        return found


@dataclass
class Word:
    typed: list[str]  # lexemes of the word as typed and of its completions
    prefix: bool
    corrections: dict[int, list[str]]  # typos -> lexemes


def search(
    index: Index, words: list[Word], limit: int, in_stock: bool | None, category: Any
) -> tuple[int, dict[Any, int], dict[str, int], list[int]]:
    among = index.everything
    if in_stock is not None:
        among &= index.stocked if in_stock else ~index.stocked
    counts: list[int] = []
    typos: list[int] = []
    names: list[int] = []
    for word in words:
        levels = [(0, index.of(word.typed, prefix=word.prefix))]
        levels += [(n, index.of(lexemes)) for n, lexemes in sorted(word.corrections.items())]
        seen = 0
        for n, bits in levels:
            for _ in range(n):  # the best level a product matches the word at
                typos = count_add(typos, bits & ~seen)
            seen |= bits
        counts = count_add(counts, seen & among)
        every = word.typed + [lexeme for ls in word.corrections.values() for lexeme in ls]
        names = count_add(names, index.of(every, name=True))
    matched = 0
    for k in range(len(words), 0, -1):  # the most words some product has
        if matched := count_equal(counts, k, among):
            break
    facets = {c: n for c, bits in index.subtree.items() if (n := (matched & bits).bit_count())}
    options = {p: n for p, bits in index.pairs.items() if (n := (matched & bits).bit_count())}
    shown = matched & index.subtree[category] if category else matched
    page: list[int] = []
    for typo_count in range(1 << len(typos)):
        with_typos = count_equal(typos, typo_count, shown)
        for name_count in range(len(words), -1, -1):
            if bucket := count_equal(names, name_count, with_typos):
                page += highest(bucket, limit - len(page))
            if len(page) >= limit:
                return matched.bit_count(), facets, options, page
    return matched.bit_count(), facets, options, page


async def probe(url: str, count: int) -> None:
    engine = create_async_engine(to_async_database_url(url))
    sessions = create_sessionmaker(engine)
    async with engine.connect() as connection:
        started = time.perf_counter()
        rows = list((await connection.execute(_ROWS)).all())
        categories = dict((await connection.execute(text("SELECT id, path FROM categories"))).all())
        loaded = time.perf_counter() - started
    started = time.perf_counter()
    index = Index(rows, categories)
    built = time.perf_counter() - started
    del rows
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tables = (index.anywhere, index.in_name, index.subtree, index.pairs)
    bitmaps = sum(sys.getsizeof(bits) for table in tables for bits in table.values()) / 2**20
    print(
        f"{len(index.ids)} products loaded in {loaded:.1f} s, indexed in {built:.1f} s:"
        f" {len(index.anywhere)} lexemes, {len(index.pairs)} option pairs;"
        f" bitmaps {bitmaps:.0f} MB, peak RSS {maxrss:.0f} MB"
    )
    queries = [
        ProductQuery.model_validate(dict(parse_qsl(path.lstrip("?"))))
        for path in search_paths(len(index.ids))[:count]
    ]
    prepared = lexed = answered = 0.0
    totals = []
    for query in queries:
        if not query.words:
            continue
        async with unit_of_work(sessions) as session:
            cpu = time.process_time()
            prepared = await prepare(session, query)
            subtree = prepared.subtree
            corrected = correct(prepared.words, prepared.found)
            prepared += time.process_time() - cpu
            cpu = time.process_time()
            forms = {form for w in corrected for form in [w.typed, *w.completions]}
            forms |= {c for w in corrected for cs in w.corrections.values() for c in cs}
            found_lexemes = await session.execute(_LEXEMES, {"forms": sorted(forms)})
            lexemes = {form: list(found) for form, found in found_lexemes.all()}
            lexed += time.process_time() - cpu
        cpu = time.process_time()
        spec = [
            Word(
                typed=[x for form in [w.typed, *w.completions] for x in lexemes.get(form, [])],
                prefix=w.prefix,
                corrections={
                    n: [x for form in forms for x in lexemes.get(form, [])]
                    for n, forms in w.corrections.items()
                },
            )
            for w in corrected
        ]
        category = subtree[0] if subtree else None
        total, *_ = search(index, spec, query.limit, query.in_stock, category)
        answered += time.process_time() - cpu
        totals.append(total)
    n = len(totals)
    print(
        f"{n} searches, CPU per search: the round trip before it {prepared * 1000 / n:.2f} ms,"
        f" the forms' lexemes {lexed * 1000 / n:.2f} ms,"
        f" in the process {answered * 1000 / n:.2f} ms"
        f" (results: median {sorted(totals)[n // 2]}, most {max(totals)})"
    )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="searches of bench/search.py")
    args = parser.parse_args()
    with data_layer(CliSettings(), need_redis=False, services=["products"]) as env:
        asyncio.run(probe(env["PRODUCTS_DATABASE_URL"], args.count))


if __name__ == "__main__":
    main()
