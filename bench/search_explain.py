"""Where a PostgreSQL search spends its time: every statement of a few listings and
searches, explained with ``EXPLAIN (ANALYZE, BUFFERS)``, and the backend call timed
from Python (its median over repeated runs), against a seeded products database.

    SHOP_DATA_DIR=/tmp/data-20k .venv/bin/python -m shop seed-demo --products 20000 --no-images
    SHOP_DATA_DIR=/tmp/data-20k .venv/bin/python -m bench.search_explain [--plans] [--runs 20]

It starts the embedded PostgreSQL of that data directory (or uses
``PRODUCTS_DATABASE_URL``), runs ``ANALYZE``, and prints per request the server
time of each statement (its ``Execution Time``), their sum, and the call's median.
``--profile N``: then N requests of the bench's listing and search workloads
(bench/search.py) through the page a cache miss builds (``reads.search_listing``,
JSON included) under cProfile, the products service's own Python per request.
``--shapes N``: N requests of each workload, timed by their shape, with the CPU of
this process and of PostgreSQL (bench/search_shapes.py). ``--path Q``: explain the
query string ``Q`` instead of the built-in requests (repeatable).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import statistics
import time
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from shop.cli.config import CliSettings
from shop.cli.system import data_layer
from shop.kit.config import to_async_database_url
from shop.kit.db import create_sessionmaker
from shop.products import reads
from shop.products.search import PostgresSearch, ProductQuery

REQUESTS: list[dict[str, Any]] = [
    {},
    {"sort": "price_asc", "in_stock": "true"},
    {"category": "audio", "sort": "name", "min_price": 1000, "max_price": 10000},
    {"min_price": 5000, "max_price": 50000, "in_stock": "false", "limit": 48},
    {"q": "wireless"},
    {"q": "wireles headphnes"},
    {"q": "portable", "in_stock": "true", "sort": "price_asc"},
    {"q": "speker lamp"},
]


async def explain(
    url: str, runs: int, plans: bool, requests: list[dict[str, Any]] = REQUESTS
) -> None:
    engine = create_async_engine(to_async_database_url(url))
    sessions = create_sessionmaker(engine)
    backend = PostgresSearch()
    async with engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE")
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    for params in requests:
        query = ProductQuery.model_validate(params)
        timings = []
        for _ in range(runs):
            async with sessions() as session:
                started = time.perf_counter()
                page = await backend.search(session, query)
                timings.append((time.perf_counter() - started) * 1000)
        captured.clear()
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        try:
            async with sessions() as session:
                await backend.search(session, query)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", capture)
        server = []
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
            for statement, parameters in captured:
                explained = await connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                )
                lines = [row[0] for row in explained]
                found = re.search(r"Execution Time: ([0-9.]+) ms", "\n".join(lines))
                server.append(float(found.group(1)) if found else 0.0)
                if plans:
                    print("\n".join(lines))
        print(
            f"{params}: total {page.total}, statements "
            + " + ".join(f"{t:.1f}" for t in server)
            + f" = {sum(server):.1f} ms server; call median {statistics.median(timings):.1f} ms"
        )
    await engine.dispose()


class _NoMedia:
    def url(self, key: str) -> str:
        return "/media/" + key


async def profile(url: str, count: int) -> None:
    from bench.search import listing_paths, search_paths

    engine = create_async_engine(to_async_database_url(url))
    sessions = create_sessionmaker(engine)
    backend = PostgresSearch()
    for name, paths in (("listing", listing_paths(20_000)), ("search", search_paths(20_000))):
        queries = []
        for path in paths[:count]:
            params: dict[str, Any] = {}
            for key, value in parse_qsl(path.lstrip("?")):
                params[key] = value
            queries.append(ProductQuery.model_validate(params))
        profiler = cProfile.Profile()
        started = time.perf_counter()
        cpu = time.process_time()
        profiler.enable()
        for query in queries:
            await reads.search_listing(sessions, backend, _NoMedia(), query)
        profiler.disable()
        wall = (time.perf_counter() - started) * 1000 / len(queries)
        own = (time.process_time() - cpu) * 1000 / len(queries)
        print(f"{name}: {wall:.1f} ms a request, {own:.1f} ms of it this process's CPU")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--plans", action="store_true", help="print every plan")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--shapes", type=int, default=0, metavar="N")
    parser.add_argument(
        "--products", type=int, default=20_000, help="the catalog's size, for --shapes' workloads"
    )
    parser.add_argument("--query-cache-size", type=int, default=500, help="for --shapes")
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        help="a query string to explain instead of the built-in ones (repeatable), "
        "as bench/search.py draws them: '?q=boot&limit=20'",
    )
    args = parser.parse_args()
    requests = [dict(parse_qsl(path.lstrip("?"))) for path in args.path] or REQUESTS
    with data_layer(CliSettings(), need_redis=False, services=["products"]) as env:
        if args.shapes:
            from bench.search_shapes import shapes

            asyncio.run(
                shapes(
                    env["PRODUCTS_DATABASE_URL"], args.shapes, args.products, args.query_cache_size
                )
            )
        elif args.profile:
            asyncio.run(profile(env["PRODUCTS_DATABASE_URL"], args.profile))
        else:
            asyncio.run(explain(env["PRODUCTS_DATABASE_URL"], args.runs, args.plans, requests))


if __name__ == "__main__":
    main()
