"""`make bench`'s command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.system import RESULTS_DIR, SCENARIOS
from shop.cli.scaling import scale_argument

DESCRIPTION = "`make bench`: the whole system under wrk, on this machine, on loopback only."


def _counts(text: str) -> list[int]:
    try:
        return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
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
        "--no-cache",
        dest="cache",
        action="store_false",
        help="the products service without its read cache (CACHE_TTL_SECONDS=0): what the "
        "search engine and the database cost alone",
    )
    parser.add_argument(
        "--search",
        default="postgres",
        help="search backends, comma-separated (postgres, indexed: postgres with the "
        "in-process index, opensearch): one fresh system per "
        "backend and size, and a table of them side by side (relevance, speed, memory)",
    )
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
    args.search = [name.strip() for name in args.search.split(",") if name.strip()]
    if not args.search or set(args.search) - {"postgres", "indexed", "opensearch"}:
        parser.error("--search: postgres, indexed or opensearch (comma-separated)")
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
