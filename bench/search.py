"""Search and listing under the bench: varied requests, the read cache's hit rate, the
judged query set's relevance, and the search node's memory."""

from __future__ import annotations

import random
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from shop.cli.demo import demo_catalog

ROOT = Path(__file__).resolve().parents[1]
SORTS = ("relevance", "price_asc", "price_desc", "newest", "name")
LISTING_SORTS = ("newest", "price_asc", "price_desc", "name")
PRICE_RANGES = ((None, None), (None, 2_000), (1_000, 10_000), (5_000, 50_000), (20_000, None))
DISTINCT = 2_000  # requests per scenario file: at least 1,000 distinct


def _judged() -> Any:
    """tests/products/search_judged.py (the judged set lives with the tests)."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.products import search_judged
    finally:
        sys.path.remove(str(ROOT))
    return search_judged


def _typo(word: str, rng: random.Random) -> str:
    """One typo where the word has room for it: a letter dropped, doubled or swapped."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def search_paths(products: int, seed: int = 1) -> list[str]:
    """Distinct search requests: one to three words of the demo catalog's product names
    (most with a typo, some cut short as typed), the judged queries, and filters."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload
    catalog = demo_catalog(min(products, 5_000))
    names = [p.name for p in catalog.products]
    categories = [c.slug for c in catalog.categories]
    queries = [q for _, q, _ in _judged().JUDGED_QUERIES]
    paths: set[str] = set()
    while len(paths) < DISTINCT:
        if rng.random() < 0.1:
            q = rng.choice(queries)
        else:
            words = list(re.findall(r"[^\W\d_]{3,}", rng.choice(names)))
            picked = rng.sample(words, min(len(words), rng.randint(1, 3)))
            picked = [_typo(w.lower(), rng) if rng.random() < 0.6 else w.lower() for w in picked]
            if rng.random() < 0.2:  # still typing
                picked[-1] = picked[-1][: max(3, len(picked[-1]) - 3)]
            q = " ".join(picked)
        params: dict[str, Any] = {"q": q, "limit": 20}
        if rng.random() < 0.3:
            params["category"] = rng.choice(categories)
        if rng.random() < 0.3:
            params["sort"] = rng.choice(SORTS)
        if rng.random() < 0.2:
            params["in_stock"] = "true"
        paths.add("?" + urlencode(params))
    return sorted(paths)


def listing_paths(products: int, seed: int = 2) -> list[str]:
    """Distinct listings: category, sort, price range, stock and page size."""
    rng = random.Random(seed)  # noqa: S311
    categories = [None, *(c.slug for c in demo_catalog(1).categories)]
    paths: set[str] = set()
    while len(paths) < DISTINCT:
        low, high = rng.choice(PRICE_RANGES)
        params: dict[str, Any] = {
            "category": rng.choice(categories),
            "sort": rng.choice(LISTING_SORTS),
            "min_price": low,
            "max_price": high,
            "in_stock": rng.choice((None, None, "true", "false")),
            "limit": rng.choice((10, 20, 24, 48)),
        }
        paths.add("?" + urlencode({k: v for k, v in params.items() if v is not None}))
    return sorted(paths)


def read_cache_counts(products_url: str) -> tuple[float, float]:
    """(hits, misses) of the read cache so far, from the products service's metrics."""
    text = httpx.get(products_url + "/metrics", timeout=10).text
    found = {"hit": 0.0, "miss": 0.0}
    for result, value in re.findall(
        r'^products_read_cache_total\{[^}]*result="(hit|miss)"[^}]*\} ([0-9.e+]+)$', text, re.M
    ):
        found[result] += float(value)
    return found["hit"], found["miss"]


def judged_relevance(gateway_url: str, products: int) -> dict[str, Any]:
    """The judged set's figures against the seeded catalog, through the gateway."""
    judged_module = _judged()
    judged = judged_module.judge(demo_catalog(products))
    answers = {}
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        for query in judged:
            page = client.get("/api/v1/products", params={"q": query.q, "limit": 10})
            page.raise_for_status()
            answers[query.q] = [item["sku"] for item in page.json()["items"]]
    scores = judged_module.score(judged, answers)
    return {
        "queries": scores.queries,
        "recall_at_10": round(scores.recall, 3),
        "ndcg_at_10": round(scores.ndcg, 3),
        "zero_result_rate": round(scores.zero_results, 3),
        "empty_but_expected": scores.empty_but_expected,
        "under_floor": [q for q, _ in scores.worst],
    }


def search_node_memory_mb(processes: dict[int, tuple[str, float]]) -> float | None:
    """Resident memory of the search node (a java process under `shop up`), in MB."""
    for pid in processes:
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if not argv0.endswith(b"java"):
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        if match:
            return round(int(match.group(1)) / 1024, 1)
    return None


def wait_for_index(system: Any, products: int, timeout: float = 1800.0) -> None:
    """Until the engine answers for every active product the seed made (the outbox worker
    indexes them one message at a time), or the count stops moving for a minute."""
    expected = sum(1 for p in demo_catalog(products).products if p.status.value == "active")
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        page = httpx.get(system.url() + "/api/v1/products", params={"limit": 1}, timeout=30)
        total = int(page.json()["total"]) if page.status_code == 200 else -1
        if total >= expected:
            return
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since > 60:
            print(f"  the index holds {total} of {expected} active products; going on")
            return
        time.sleep(2)
    raise RuntimeError(f"the search index did not catch up in {timeout:.0f} s")


def side_by_side(by_backend: dict[str, list[dict[str, Any]]]) -> str:
    """The search backends next to each other, per catalog size: relevance from the
    judged set, search and listing speed and CPU per request, the node's memory."""
    lines = [
        "# Search backends side by side",
        "",
        "Each backend on a fresh system, one after the other, with the same workload. "
        "CPU per request: all processes of the system (ms), at the most connections.",
        "",
        "| products | backend | read cache | recall@10 | nDCG@10 | zero results "
        "| scenario | conns | req/s | p50 ms | p99 ms | cache hits | CPU ms/req | node RSS MB "
        "| load avg before/after |",
        "|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for backend, reports in by_backend.items():
        for report in reports:
            meta = report["meta"]
            judged = meta.get("judged") or {}
            load = meta.get("load_average") or {}
            for scenario in report["scenarios"]:
                if scenario["name"] not in ("search", "listing"):
                    continue
                for row in scenario["runs"]:
                    hit = row.get("cache_hit_rate")
                    lines.append(
                        f"| {meta['products']:,} | {backend} "
                        f"| {'on' if meta.get('read_cache', True) else 'off'} "
                        f"| {judged.get('recall_at_10', '-')} | {judged.get('ndcg_at_10', '-')} "
                        f"| {judged.get('zero_result_rate', '-')} | {scenario['name']} "
                        f"| {row['connections']} | {row['rps']:,.1f} | {row['p50_ms']:.2f} "
                        f"| {row['p99_ms']:.2f} | {'-' if hit is None else format(hit, '.0%')} "
                        f"| {sum((row.get('cpu_ms') or {}).values()):.2f} "
                        f"| {meta.get('search_node_rss_mb') or '-'} "
                        f"| {'/'.join(format(x, '.1f') for x in load.get('before', [])[:1])}"
                        f"/{'/'.join(format(x, '.1f') for x in load.get('after', [])[:1])} |"
                    )
    return "\n".join(lines) + "\n"
