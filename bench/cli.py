"""`make bench`: the whole system under wrk, on this machine, on loopback only.

The command line and one run per catalog size (see bench/run.py)."""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.checkout import run_checkouts, shipping_method
from bench.cpu import cpu_by_process, cpu_per_request
from bench.options import parse_args
from bench.report import add_ratios, markdown, to_json
from bench.scaling import compare, plot, scaling_markdown, scaling_summary
from bench.search import (
    judged_relevance,
    listing_paths,
    read_cache_counts,
    search_node_memory_mb,
    search_paths,
    side_by_side,
    wait_for_index,
)
from bench.system import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CUSTOMER_PASSWORD,
    HOT_PRODUCT_STOCK,
    UNLIMITED,
    WARMED_UP,
    System,
    login,
    make_customer,
    pick_category,
    product_ids,
    scale_flags,
    seed,
    start_system,
    wait_for_outbox,
)
from bench.wrk import Scenario, run_wrk

# --- main ----------------------------------------------------------------------------------


def run_size(
    args: argparse.Namespace, products: int, stamp: str, name: str, backend: str = "postgres"
) -> dict[str, Any]:
    """One fresh system, seeded with `products` products, every scenario: writes
    <out>/<name>.json, .md and .png and returns the report."""
    root = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    system: System | None = None
    failed = True
    try:
        print(f"starting {' '.join(['shop up', *scale_flags(args.scale)])} in {root} ...")
        # A loaded machine starts slowly: shop up waits as long as the bench does.
        extra_env = {
            # "indexed": PostgreSQL with the in-process index (SEARCH_IN_PROCESS_INDEX).
            "SEARCH_BACKEND": "postgres" if backend == "indexed" else backend,
            "SEARCH_IN_PROCESS_INDEX": str(backend == "indexed").lower(),
            "STARTUP_TIMEOUT": str(args.startup_timeout),
            # The checkout scenario's customers check out over and over, paying manually.
            "MAX_UNPAID_ORDERS": "1000000000",
        }
        if not args.cache:
            extra_env["CACHE_TTL_SECONDS"] = "0"
        load_before = os.getloadavg()
        system = start_system(root, args.bcrypt_rounds, args.startup_timeout, args.scale, extra_env)
        direct_label, instances = system.direct("products")
        print(f"  up: {system.instances}")
        print(f"seeding {products} products{'' if args.images else ' (no pictures)'} ...")
        seed_summary, seed_seconds = seed(system, products, images=args.images)
        wait_for_outbox(system)
        if backend not in ("postgres", "indexed"):  # the index catches up as it searches
            print("waiting for the search index to catch up ...")
            wait_for_index(system, products)

        api = system.url() + "/api/v1"
        admin = {"authorization": f"Bearer {login(api, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        print(f"creating {args.customers} verified customers ...")
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            customers = list(pool.map(lambda n: make_customer(system, n), range(args.customers)))
        ids, in_stock = product_ids(system, 5000)
        if not in_stock:
            raise RuntimeError("the catalog has no product in stock")
        hot = in_stock[0]
        adjusted = httpx.post(
            f"{api}/products/{hot}/inventory/adjustments",
            json={"delta": HOT_PRODUCT_STOCK, "reason": "benchmark hot product"},
            headers=admin,
            timeout=30,
        )
        adjusted.raise_for_status()
        category = pick_category(system)
        method_id = shipping_method(api, admin)
        tokens = [token for _, token in customers]

        files = root / "wrk"
        files.mkdir()
        (files / "ids.txt").write_text("\n".join(ids) + "\n")
        (files / "in_stock.txt").write_text("\n".join(in_stock) + "\n")
        (files / "hot.txt").write_text(hot + "\n")
        (files / "search.txt").write_text("\n".join(search_paths(products)) + "\n")
        (files / "listing.txt").write_text("\n".join(listing_paths(products)) + "\n")
        (files / "tokens.txt").write_text("\n".join(token for _, token in customers) + "\n")
        (files / "credentials.txt").write_text(
            "".join(f"{address}\t{CUSTOMER_PASSWORD}\n" for address, _ in customers)
        )
        gateway, direct = system.url(), system.url("products")
        # With several products instances, name the one the direct scenarios hit.
        which = "products" if instances == 1 else f"{direct_label} of {instances}"
        scenarios = [
            Scenario(
                "ceiling",
                f"ceiling: GET /health/live ({which})",
                direct + "/health/live",
                "report.lua",
            ),
            Scenario(
                "product_direct",
                "GET product by id, direct" + ("" if instances == 1 else f" ({which})"),
                direct,
                "get_random.lua",
                [str(files / "ids.txt"), "/api/v1/products/"],
            ),
            Scenario(
                "product_gateway",
                "GET product by id, via gateway",
                gateway,
                "get_random.lua",
                [str(files / "ids.txt"), "/api/v1/products/"],
            ),
            Scenario(
                "listing",
                "listing, 2,000 combinations of category, sort, price, stock and size, via gateway",
                gateway,
                "get_random.lua",
                [str(files / "listing.txt"), "/api/v1/products"],
            ),
            Scenario(
                "search",
                "search, 2,000 queries (typos, prefixes, filters, sorts), via gateway",
                gateway,
                "get_random.lua",
                [str(files / "search.txt"), "/api/v1/products"],
            ),
            Scenario(
                "login",
                "login (bcrypt), via gateway",
                gateway,
                "login.lua",
                [str(files / "credentials.txt")],
                per_core=True,
            ),
            Scenario(
                "order_spread",
                f"place order, {len(in_stock)} products, via gateway",
                gateway,
                "order.lua",
                [str(files / "tokens.txt"), str(files / "in_stock.txt")],
            ),
            Scenario(
                "order_keyed",
                "place order with an Idempotency-Key, spread, via gateway",
                gateway,
                "order.lua",
                [str(files / "tokens.txt"), str(files / "in_stock.txt"), "keyed"],
            ),
            Scenario(
                "checkout",
                "checkout: a cart, two lines, address, method, checkout (6 requests), via gateway",
                gateway,
                "",
                runner=lambda connections, duration: run_checkouts(
                    gateway, tokens, in_stock, method_id, connections, duration
                ),
            ),
            Scenario(
                "order_hot",
                "place order, one hot product, via gateway",
                gateway,
                "order.lua",
                [str(files / "tokens.txt"), str(files / "hot.txt")],
            ),
        ]
        if args.only:
            wanted = {"ceiling", *(part.strip() for part in args.only.split(","))}
            scenarios = [s for s in scenarios if s.name in wanted]

        # Unmeasured: the first scenario would otherwise pay for filling the read cache
        # (and PostgreSQL's buffers) that the ones after it enjoy.
        warm = [s for s in scenarios if s.name in WARMED_UP]
        if args.warmup and warm:
            print(f"warming up the read caches ({args.warmup} s per read scenario) ...")
            for scenario in warm:
                run_wrk(scenario, max(args.connections), args.warmup)

        results: list[dict[str, Any]] = []
        for scenario in scenarios:
            runs = []
            for connections in args.connections:
                cached = scenario.name in ("listing", "search")
                counts = read_cache_counts(direct) if cached else (0.0, 0.0)
                before = cpu_by_process(system.process.pid)
                row = run_wrk(scenario, connections, args.duration)
                after = cpu_by_process(system.process.pid)
                row["cpu_ms"] = cpu_per_request(before, after, row["requests"])
                if cached:
                    hits, misses = (
                        b - a for a, b in zip(counts, read_cache_counts(direct), strict=True)
                    )
                    row["cache_hit_rate"] = (
                        round(hits / (hits + misses), 3) if hits + misses else None
                    )
                print(
                    f"  {scenario.name:<16} c={connections:<4} {row['rps']:>9.1f} req/s"
                    f"  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:8.2f} ms"
                    f"  http errors {row['non_2xx_3xx']}  socket errors {row['socket_errors']}"
                )
                runs.append(row)
            results.append(
                {
                    "name": scenario.name,
                    "title": scenario.title,
                    "per_core": scenario.per_core,
                    "runs": runs,
                }
            )
        add_ratios(results)
        relevance = None
        if any(s.name == "search" for s in scenarios):
            print("the judged query set ...")
            relevance = judged_relevance(gateway, products)
            print(f"  {relevance}")
        node_mb = search_node_memory_mb(cpu_by_process(system.process.pid))

        notes = [
            "Gateway rate limits and login throttling are raised out of reach for the run "
            f"({UNLIMITED}); their checks still run.",
            f"The hot product's stock is raised by {HOT_PRODUCT_STOCK:,} so it never sells out; "
            "spread orders draw from products in stock at the start, so late runs may see "
            "409s (sold out) on a small catalog.",
            "checkout is driven by httpx (wrk can't chain requests): each of its requests is a "
            "whole checkout of 6 HTTP requests, so its req/s are checkouts/s and its CPU per "
            "request is CPU per checkout; MAX_UNPAID_ORDERS is raised out of reach.",
        ]
        machine = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
        wrk = shutil.which("wrk") or "wrk"
        version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
        wrk_version = (version.stdout.splitlines() or [""])[0]
        report = {
            "meta": {
                "stamp": stamp,
                "products": products,
                "seed": seed_summary,
                "seed_s": seed_seconds,
                "images": args.images,
                "scale": args.scale,
                "instances": {
                    service: [label for label, _ in listed]
                    for service, listed in system.instances.items()
                },
                "direct": {"label": direct_label, "url": direct, "of": instances},
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "connections": args.connections,
                "customers": args.customers,
                "bcrypt_rounds": args.bcrypt_rounds,
                "cpus": os.cpu_count(),
                "machine": machine,
                "wrk": wrk_version,
                "category": category,
                "search_backend": backend,
                "read_cache": args.cache,
                "judged": relevance,
                "search_node_rss_mb": node_mb,
                "load_average": {"before": load_before, "after": os.getloadavg()},
                "notes": notes,
            },
            "scenarios": results,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{name}.json").write_text(to_json(report))
        table = markdown(report)
        (args.out / f"{name}.md").write_text(table)
        print()
        print(table)
        png = args.out / f"{name}.png"
        if plot(report, png):
            print(f"wrote {png}")
        else:
            print("matplotlib is not installed: no PNG (uv pip install matplotlib)")
        print(f"wrote {args.out / (name + '.json')} and {args.out / (name + '.md')}")
        failed = False
        return report
    finally:
        if system is not None:
            code = system.stop()
            print(f"shop up stopped (exit code {code})")
            if failed:
                print(f"--- last lines of shop up's log ---\n{system.log_tail()}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        return compare(args.compare, args.out)
    if shutil.which("wrk") is None:
        print("wrk is not installed: sudo apt-get install -y wrk", file=sys.stderr)
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    several = len(args.sizes) > 1
    reports: list[dict[str, Any]] = []
    names: list[str] = []
    code = 0
    by_backend: dict[str, list[dict[str, Any]]] = {backend: [] for backend in args.search}
    for number, products in enumerate(args.sizes, start=1):
        for backend in args.search:
            name = f"{stamp}-{products}products" if several else stamp
            if len(args.search) > 1:
                name += f"-{backend}"
            if several:
                print(f"=== catalog size {products} ({number} of {len(args.sizes)}) ===")
            print(f"=== search backend {backend} ===")
            try:
                report = run_size(args, products, stamp, name, backend)
            except Exception as exc:  # the sizes done so far still get their table
                if not several and len(args.search) == 1:
                    raise
                print(f"catalog size {products} ({backend}) failed: {exc}", file=sys.stderr)
                code = 1
                break
            by_backend[backend].append(report)
            if backend == args.search[0]:
                reports.append(report)
                names.append(name)
    if len(args.search) > 1:
        table = side_by_side(by_backend)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{stamp}-search.md").write_text(table)
        print(table)
        print(f"wrote {args.out / (stamp + '-search.md')}")
    if several and len(reports) > 1:
        summary = scaling_summary(reports, names, "sizes")
        (args.out / f"{stamp}-sizes.json").write_text(json.dumps(summary, indent=1) + "\n")
        table = scaling_markdown(summary)
        (args.out / f"{stamp}-sizes.md").write_text(table)
        print()
        print(table)
        print(f"wrote {args.out / (stamp + '-sizes.md')} and {stamp}-sizes.json")
    return code
