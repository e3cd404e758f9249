"""What the bench's searches and listings cost by their shape (which parameters they
set), run in this process against a seeded products database: wall time per
request, this process's CPU and PostgreSQL's (all its processes, parallel workers
included), and the slowest requests. Used by ``bench/search_explain.py --shapes N``.

Each workload runs twice and both passes are printed; the second has PostgreSQL's
and the statement caches warm, as a service that has been running a while."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.ext.asyncio import create_async_engine

from bench.search import listing_paths, search_paths
from shop.kit.config import to_async_database_url
from shop.kit.db import create_sessionmaker
from shop.products import reads
from shop.products.search import PostgresSearch, ProductQuery

__all__ = ["shapes"]

_TICKS_PER_MS = 0.1  # /proc/<pid>/stat counts 100 clock ticks a second


def postgres_cpu_ms() -> float:
    """CPU time so far of every process named postgres on this machine (the embedded
    server's: run this on a machine where it is the only one)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile (a parallel worker)
            continue
        command, _, rest = text.partition("(")[2].rpartition(")")
        if command == "postgres":
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / _TICKS_PER_MS


class _NoMedia:
    def url(self, key: str) -> str:
        return "/media/" + key


def _shape(params: dict[str, Any]) -> str:
    return ", ".join(sorted(key for key in params if key not in ("limit", "cursor")))


async def shapes(url: str, count: int, products: int, query_cache_size: int = 500) -> None:
    """``query_cache_size``: SQLAlchemy's compiled cache (500 by default, as the
    services have it)."""
    engine = create_async_engine(to_async_database_url(url), query_cache_size=query_cache_size)
    sessions = create_sessionmaker(engine)
    backend = PostgresSearch()
    workloads = [("listing", listing_paths(products)), ("search", search_paths(products))]
    for run in (1, 2):
        for name, paths in workloads:
            by_shape: dict[str, list[float]] = defaultdict(list)
            slowest: list[tuple[float, str]] = []
            database, own = postgres_cpu_ms(), time.process_time()
            for path in paths[:count]:
                params = dict(parse_qsl(path.lstrip("?")))
                query = ProductQuery.model_validate(params)
                started = time.perf_counter()
                await reads.search_listing(sessions, backend, _NoMedia(), query)
                ms = (time.perf_counter() - started) * 1000
                by_shape[_shape(params)].append(ms)
                slowest.append((ms, path))
            every = sorted(ms for times in by_shape.values() for ms in times)
            n = len(every)
            own_ms = (time.process_time() - own) * 1000 / n
            database_ms = (postgres_cpu_ms() - database) / n
            print(
                f"{name}, pass {run}: {n} requests, mean {statistics.mean(every):.1f} ms, "
                f"p50 {every[n // 2]:.1f}, p90 {every[int(n * 0.9)]:.1f}, max {every[-1]:.1f}; "
                f"CPU a request: this process {own_ms:.1f} ms, PostgreSQL {database_ms:.1f} ms"
            )
            total = sum(every)
            for shape, times in sorted(by_shape.items(), key=lambda item: -sum(item[1]))[:10]:
                print(
                    f"  {sum(times) / total:6.1%} of the time, {len(times):3d} requests, "
                    f"mean {statistics.mean(times):6.1f} ms, max {max(times):6.1f}: {shape}"
                )
            for ms, path in sorted(slowest, reverse=True)[:5]:
                print(f"  slowest {ms:6.1f} ms {path}")
    await engine.dispose()
