"""The in-process index against the PostgreSQL backend, search by search (branch work).

    SHOP_DATA_DIR=/tmp/data-100k .venv/bin/python -m bench.search_index_compare --count 300

For the bench's searches (bench/search.py) that the index answers (no price filter,
the first page by relevance), both backends on the same database: how many agree on
the total, the category facets and the option facets, how much of PostgreSQL's first
ten the index has in its own, and each one's CPU per search (this process; the
index's includes its round trips).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.search import search_paths
from shop.cli.config import CliSettings
from shop.cli.system import data_layer
from shop.kit.config import to_async_database_url
from shop.kit.db import create_sessionmaker, unit_of_work
from shop.products.search import PostgresSearch, ProductQuery, SortOrder
from shop.products.search.mem_loader import Lexicon, load_index, vocabulary_words
from shop.products.search.mem_query import IndexQuery
from shop.products.search.mem_search import TooBroad, answer
from shop.products.search.mem_words import Vocabulary, words_of
from shop.products.search.pg_variants import read_option_pair


def resident_mb() -> float:
    """This process's resident set (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def compare(url: str, count: int, judged_size: int) -> None:
    engine = create_async_engine(to_async_database_url(url))
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        slugs = dict((await session.execute(text("SELECT id, slug FROM categories"))).all())
        before = resident_mb()
        started = time.perf_counter()
        index, _versions = await load_index(session)  # kept, as the keeper keeps them
        vocabulary = Vocabulary(await vocabulary_words(session))
        seconds = time.perf_counter() - started
    gc.collect()
    print(
        f"indexed {index.size} products in {seconds:.1f} s;"
        f" the process's resident memory {before:.0f} -> {resident_mb():.0f} MB"
    )
    ids = {slug: category for category, slug in slugs.items()}
    backend = PostgresSearch()
    lexicon = Lexicon()
    agree: Counter[str] = Counter()
    overlap, compared, too_broad = 0.0, 0, 0
    postgres_cpu = index_cpu = 0.0
    samples: list[Any] = []
    for path in search_paths(100_000)[: count * 2]:
        query = ProductQuery.model_validate(dict(parse_qsl(path.lstrip("?"))))
        relevance = query.sort in (None, SortOrder.RELEVANCE)
        if not query.words or query.min_price or query.max_price or not relevance:
            continue
        if compared >= count:
            break
        async with unit_of_work(sessions) as session:
            cpu = time.process_time()
            page = await backend.search(session, query)
            postgres_cpu += time.process_time() - cpu
            cpu = time.process_time()
            prepared, forms = await words_of(session, query, index, vocabulary, lexicon)
            subtree, sku_products = prepared.subtree, prepared.sku_products
            try:
                got = answer(
                    index,
                    IndexQuery(
                        words=forms,
                        limit=query.limit,
                        subtree=frozenset(subtree) if subtree is not None else None,
                        in_stock=query.in_stock,
                        options=dict(query.options),
                        sku_products=frozenset(sku_products),
                    ),
                )
            except TooBroad:
                too_broad += 1
                continue
            index_cpu += time.process_time() - cpu
        if query.category and query.category not in ids:
            continue
        compared += 1
        facets = {f.slug: f.count for f in page.facets}
        options = {(n, v.value): v.count for n, vs in page.option_facets.items() for v in vs}
        agree["total"] += got.total == page.total
        agree["categories"] += {slugs[c]: n for c, n in got.categories.items()} == facets
        agree["options"] += {read_option_pair(p): n for p, n in got.options.items()} == options
        theirs = [p.id for p in page.products[:10]]
        if theirs:
            overlap += len(set(theirs) & set(got.page[:10])) / len(theirs)
        else:
            overlap += 1.0 if not got.page else 0.0
        if got.total != page.total and len(samples) < 5:
            samples.append((path, page.total, got.total))
    n = max(compared, 1)
    print(
        f"{compared} searches compared ({too_broad} too broad for the index):"
        f" totals agree {agree['total']}, category facets {agree['categories']},"
        f" option facets {agree['options']}; PostgreSQL's first ten in the index's"
        f" {overlap / n:.0%}; CPU per search PostgreSQL backend {postgres_cpu * 1000 / n:.1f} ms,"
        f" index {index_cpu * 1000 / n:.1f} ms"
    )
    for sample in samples:
        print("  differs:", *sample)
    if judged_size:
        await judged(sessions, backend, index, vocabulary, judged_size)
    await engine.dispose()


async def judged(
    sessions: Any, backend: PostgresSearch, index: Any, vocabulary: Vocabulary, size: int
) -> None:
    """recall@10 and nDCG@10 of the judged set (tests/products/search_judged.py), both ways."""
    from bench.search import _judged, demo_catalog

    module = _judged()
    queries = module.judge(demo_catalog(size))
    async with unit_of_work(sessions) as session:
        skus = dict((await session.execute(text("SELECT id, sku FROM products"))).all())
    by_postgres, by_index = {}, {}
    lexicon = Lexicon()
    for judged_query in queries:
        query = ProductQuery.model_validate({"q": judged_query.q, "limit": 10})
        async with unit_of_work(sessions) as session:
            page = await backend.search(session, query)
            by_postgres[judged_query.q] = [p.sku for p in page.products]
            prepared, forms = await words_of(session, query, index, vocabulary, lexicon)
        got = answer(index, IndexQuery(forms, 10, sku_products=frozenset(prepared.sku_products)))
        by_index[judged_query.q] = [skus[i] for i in got.page]
    for name, answers in (("PostgreSQL", by_postgres), ("index", by_index)):
        scores = module.score(queries, answers)
        print(
            f"judged set on {size} products, {name}: recall@10 {scores.recall:.3f},"
            f" nDCG@10 {scores.ndcg:.3f}, empty {scores.empty_but_expected}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--judged", type=int, default=0, metavar="PRODUCTS", help="seeded size")
    args = parser.parse_args()
    with data_layer(CliSettings(), need_redis=False, services=["products"]) as env:
        asyncio.run(compare(env["PRODUCTS_DATABASE_URL"], args.count, args.judged))


if __name__ == "__main__":
    main()
