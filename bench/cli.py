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

from bench.cpu import cpu_by_process, cpu_per_request
from bench.report import add_ratios, markdown, to_json
from bench.scaling import compare, plot, scaling_markdown, scaling_summary
from bench.system import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CUSTOMER_PASSWORD,
    HOT_PRODUCT_STOCK,
    RESULTS_DIR,
    SCENARIOS,
    SEARCH_QUERY,
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
)
from bench.wrk import Scenario, run_wrk
from shop.cli.scaling import scale_argument

# --- main ----------------------------------------------------------------------------------


def _counts(text: str) -> list[int]:
    try:
        return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    catalog = parser.add_mutually_exclusive_group()
    catalog.add_argument(
        "--products", type=int, default=10_000, help="demo catalog size (default 10000)"
    )
    catalog.add_argument(
        "--sizes",
        type=_counts,
        default=[],
        metavar="N,N,...",
        help="several catalog sizes, e.g. 1000,10000,100000: one fresh system and one result "
        "set per size, and a table of how the figures scale",
    )
    parser.add_argument(
        "--scale",
        type=scale_argument,
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="passed to `shop up --scale` (auth, products or orders; repeatable, or "
        "comma-separated). The ceiling and direct reads still hit the first instance",
    )
    parser.add_argument(
        "--no-images",
        dest="images",
        action="store_false",
        help="seed without pictures (`shop seed-demo --no-images`): much faster seeding; "
        "product responses then carry no image",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="seconds of unmeasured load per read scenario before the measured runs "
        "(fills the read cache for all of them alike; 0: none)",
    )
    parser.add_argument(
        "--connections",
        type=_counts,
        default=[1, 8, 32],
        help="comma-separated connection counts (default 1,8,32)",
    )
    parser.add_argument("--customers", type=int, default=8, help="verified customers to create")
    parser.add_argument(
        "--bcrypt-rounds", type=int, default=12, help="BCRYPT_ROUNDS for the run (default 12)"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names to run (the ceiling always runs)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results go")
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        metavar="RESULT.json",
        help="run nothing: put the given result files side by side in one table, e.g. a "
        "--scale products=2 run beside a run without it (written to --out)",
    )
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    args.scale = {name: count for counts in args.scale for name, count in counts.items()}
    args.sizes = args.sizes or [args.products]
    if not args.connections or any(c < 1 or c > 1024 for c in args.connections):
        parser.error("connections must be between 1 and 1024")
    if any(not 1 <= size <= 100_000 for size in args.sizes):
        parser.error("catalog sizes must be between 1 and 100000 (shop seed-demo's limit)")
    if len(set(args.sizes)) != len(args.sizes):
        parser.error("--sizes: each size once")
    if not 1 <= args.duration <= 600:
        parser.error("duration must be between 1 and 600 seconds")
    if args.only:
        unknown = {name.strip() for name in args.only.split(",")} - set(SCENARIOS)
        if unknown:
            parser.error(f"--only: unknown scenarios {sorted(unknown)}; known: {SCENARIOS}")
    return args


def run_size(args: argparse.Namespace, products: int, stamp: str, name: str) -> dict[str, Any]:
    """One fresh system, seeded with `products` products, every scenario: writes
    <out>/<name>.json, .md and .png and returns the report."""
    root = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    system: System | None = None
    failed = True
    try:
        print(f"starting {' '.join(['shop up', *scale_flags(args.scale)])} in {root} ...")
        system = start_system(root, args.bcrypt_rounds, args.startup_timeout, args.scale)
        direct_label, instances = system.direct("products")
        print(f"  up: {system.instances}")
        print(f"seeding {products} products{'' if args.images else ' (no pictures)'} ...")
        seed_summary, seed_seconds = seed(system, products, images=args.images)

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

        files = root / "wrk"
        files.mkdir()
        (files / "ids.txt").write_text("\n".join(ids) + "\n")
        (files / "in_stock.txt").write_text("\n".join(in_stock) + "\n")
        (files / "hot.txt").write_text(hot + "\n")
        (files / "tokens.txt").write_text("\n".join(token for _, token in customers) + "\n")
        (files / "credentials.txt").write_text(
            "".join(f"{address}\t{CUSTOMER_PASSWORD}\n" for address, _ in customers)
        )
        gateway, direct = system.url(), system.url("products")
        # With several products instances, name the one the direct scenarios hit.
        which = "products" if instances == 1 else f"{direct_label} of {instances}"
        query = SEARCH_QUERY.replace(" ", "%20")
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
                f"listing ?category={category}&limit=20, via gateway",
                f"{gateway}/api/v1/products?category={category}&limit=20",
                "report.lua",
            ),
            Scenario(
                "search",
                f"search ?q={SEARCH_QUERY}, via gateway",
                f"{gateway}/api/v1/products?q={query}&limit=20",
                "report.lua",
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
                before = cpu_by_process(system.process.pid)
                row = run_wrk(scenario, connections, args.duration)
                after = cpu_by_process(system.process.pid)
                row["cpu_ms"] = cpu_per_request(before, after, row["requests"])
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

        notes = [
            "Gateway rate limits and login throttling are raised out of reach for the run "
            f"({UNLIMITED}); their checks still run.",
            f"The hot product's stock is raised by {HOT_PRODUCT_STOCK:,} so it never sells out; "
            "spread orders draw from products in stock at the start, so late runs may see "
            "409s (sold out) on a small catalog.",
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
                "search_query": SEARCH_QUERY,
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
    for products in args.sizes:
        name = f"{stamp}-{products}products" if several else stamp
        if several:
            print(f"=== catalog size {products} ({len(reports) + 1} of {len(args.sizes)}) ===")
        try:
            reports.append(run_size(args, products, stamp, name))
        except Exception as exc:  # the sizes done so far still get their table
            if not several:
                raise
            print(f"catalog size {products} failed: {exc}", file=sys.stderr)
            code = 1
            break
        names.append(name)
    if several and len(reports) > 1:
        summary = scaling_summary(reports, names, "sizes")
        (args.out / f"{stamp}-sizes.json").write_text(json.dumps(summary, indent=1) + "\n")
        table = scaling_markdown(summary)
        (args.out / f"{stamp}-sizes.md").write_text(table)
        print()
        print(table)
        print(f"wrote {args.out / (stamp + '-sizes.md')} and {stamp}-sizes.json")
    return code
