"""`make bench`: the whole system under wrk, on this machine, on loopback only.

Starts `shop up` on free ports with a fresh data directory, loads the demo catalog
(`shop seed-demo --products N`), creates verified customers, then drives each
scenario with wrk at each connection count for a bounded time, and writes
bench/results/<stamp>.json, <stamp>.md and (if matplotlib is installed) <stamp>.png.
Every figure is also given relative to the ceiling (GET /health/live of the
products service) measured in the same run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import email
import email.policy
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shop.cli.processes import port_is_free

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SERVICES = ("gateway", "auth", "products", "orders")
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "the benchmark admin's long passphrase"
CUSTOMER_PASSWORD = "a benchmark customer's long passphrase"
SEARCH_QUERY = "wireles headphnes"  # two typos on purpose
HOT_PRODUCT_STOCK = 1_000_000  # so the hot product never sells out during a run
# Rate limits and login throttling would turn a load test into a test of 429s: the
# checks still run (and cost what they cost), with budgets no run can use up.
UNLIMITED = "100000000/minute"


# --- the system ------------------------------------------------------------------


def unused_port() -> int:
    """A free port below the kernel's ephemeral range (as tests/e2e/system.py does)."""
    while True:
        port = random.randint(20_000, 29_999)  # noqa: S311 - not for security
        if port_is_free("127.0.0.1", port):
            return port


@dataclass
class System:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    env: dict[str, str]
    data_dir: Path
    log_path: Path

    def url(self, service: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"shop up exited early:\n{self.log_tail()}")
            if "The shop is up" in self.log_path.read_text(errors="replace"):
                httpx.get(self.url() + "/health/ready", timeout=5).raise_for_status()
                return
            time.sleep(0.2)
        raise RuntimeError(f"the system was not ready in {timeout:.0f} s:\n{self.log_tail()}")

    def runtime_env(self) -> dict[str, str]:
        """The database and Redis URLs `shop up` wrote, for `shop seed-demo`."""
        lines = (self.data_dir / "runtime.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            print("shop up did not stop in time; sending SIGKILL", file=sys.stderr)
            self.process.kill()
            return self.process.wait(10)


def start_system(root: Path, bcrypt_rounds: int, timeout: float) -> System:
    ports = {service: unused_port() for service in SERVICES}
    while len(set(ports.values())) < len(ports):
        ports = {service: unused_port() for service in SERVICES}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_DATABASE_URL", "_URLS")) and key != "REDIS_URL"
    }
    env |= {f"{service.upper()}_PORT": str(port) for service, port in ports.items()}
    data_dir = root / "data"
    env |= {
        "SHOP_DATA_DIR": str(data_dir),
        "LOG_FORMAT": "json",
        "EMAIL_BACKEND": "file",
        "EMAIL_FILE_DIR": str(data_dir / "mail"),
        "BCRYPT_ROUNDS": str(bcrypt_rounds),
        "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "RATE_LIMIT_DEFAULT": UNLIMITED,
        "RATE_LIMIT_AUTH": UNLIMITED,
        "LOGIN_FAILURE_LIMIT": UNLIMITED,
    }
    log_path = root / "shop-up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "shop", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    system = System(process, ports, env, data_dir, log_path)
    system.wait_ready(timeout)
    return system


def seed(system: System, products: int) -> str:
    env = system.env | system.runtime_env()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "shop", "seed-demo", "--products", str(products)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"shop seed-demo failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    print(f"  {summary} ({time.monotonic() - started:.0f} s)")
    return summary


# --- fixtures over HTTP ------------------------------------------------------------


def _link_token(mail_dir: Path, to: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in mail_dir.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = message.get_body(("plain",)) if message["To"] == to else None  # type: ignore[attr-defined]
            if body is not None:
                match = re.search(r"token=([\w-]+)", body.get_content())
                if match:
                    return match.group(1)
        time.sleep(0.1)
    raise RuntimeError(f"no verification email to {to} within {timeout:.0f} s")


def login(api: str, address: str, password: str) -> str:
    response = httpx.post(
        api + "/auth/login", json={"email": address, "password": password}, timeout=60
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def make_customer(system: System, n: int) -> tuple[str, str]:
    """A verified customer: (email, access token)."""
    api = system.url() + "/api/v1"
    address = f"bench-{n}@example.com"
    registered = httpx.post(
        api + "/auth/register",
        json={"email": address, "password": CUSTOMER_PASSWORD, "full_name": f"Bench {n}"},
        timeout=60,
    )
    if registered.status_code != 201:
        raise RuntimeError(f"register {address}: {registered.status_code} {registered.text}")
    token = _link_token(system.data_dir / "mail", address)
    verified = httpx.post(api + "/auth/verify-email", json={"token": token}, timeout=30)
    verified.raise_for_status()
    return address, login(api, address, CUSTOMER_PASSWORD)


def product_ids(system: System, wanted: int) -> tuple[list[str], list[str]]:
    """(ids of active products, those of them in stock), up to `wanted`."""
    api = system.url("products") + "/api/v1/products"
    ids: list[str] = []
    in_stock: list[str] = []
    cursor: str | None = None
    while len(ids) < wanted:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(api, params=params, timeout=30)
        page.raise_for_status()
        body = page.json()
        for item in body["items"]:
            ids.append(item["id"])
            if item["available"] > 0:
                in_stock.append(item["id"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return ids, in_stock


def pick_category(system: System) -> str:
    """The headphones subcategory if the catalog has products in it, else the largest."""
    body = httpx.get(system.url() + "/api/v1/products", params={"limit": 1}, timeout=30).json()
    counts = {facet["slug"]: facet["count"] for facet in body["facets"]["categories"]}
    if counts.get("headphones"):
        return "headphones"
    return max(counts, key=lambda slug: counts[slug])


# --- wrk -----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    title: str
    url: str
    script: str
    args: list[str] = field(default_factory=list)
    per_core: bool = False  # also report requests/s per CPU core


def run_wrk(scenario: Scenario, connections: int, duration: int) -> dict[str, Any]:
    threads = max(1, min(connections, os.cpu_count() or 1))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / scenario.script),
        scenario.url,
    ]
    if scenario.args:
        command += ["--", *scenario.args]
    env = os.environ | {"BENCH_LUA_DIR": str(BENCH_DIR)}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    match = re.search(r"^BENCH_JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    return {
        "connections": connections,
        "threads": threads,
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p90_ms": raw["latency_us"]["p90"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "max_ms": raw["latency_us"]["max"] / 1000,
        "non_2xx_3xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "socket_error_detail": {k: v for k, v in errors.items() if k != "status"},
    }


# --- the report ------------------------------------------------------------------------


def add_ratios(results: list[dict[str, Any]]) -> None:
    """rps as a fraction of the ceiling's, latencies as multiples of the ceiling's, at the
    same connection count in the same run."""
    ceiling = {row["connections"]: row for row in results[0]["runs"]}
    for scenario in results:
        for row in scenario["runs"]:
            base = ceiling.get(row["connections"])
            if base is None:
                continue
            row["rps_vs_ceiling"] = round(row["rps"] / base["rps"], 4) if base["rps"] else None
            for key in ("p50_ms", "p99_ms"):
                ratio = row[key] / base[key] if base[key] else None
                row[key.replace("_ms", "_x_ceiling")] = round(ratio, 2) if ratio else None


def to_json(report: dict[str, Any]) -> str:
    """Indented, but one line per wrk run, so that a results file stays small."""
    compact: dict[str, Any] = {"meta": report["meta"], "scenarios": []}
    placeholder = []
    for scenario in report["scenarios"]:
        rows = []
        for row in scenario["runs"]:
            row = {k: v for k, v in row.items() if k != "socket_error_detail" or any(v.values())}
            rows.append(f"@@{len(placeholder)}@@")
            placeholder.append(json.dumps(row, separators=(",", ":")))
        compact["scenarios"].append({**scenario, "runs": rows})
    text = json.dumps(compact, indent=1)
    for n, line in enumerate(placeholder):
        text = text.replace(f'"@@{n}@@"', line)
    return text + "\n"


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        f"# Benchmark {meta['stamp']}",
        "",
        f"{meta['products']} products seeded; {meta['duration_s']} s per run; "
        f"{meta['cpus']} CPUs ({meta['machine']}); wrk threads = min(connections, CPUs); "
        f"bcrypt rounds {meta['bcrypt_rounds']}; {meta['customers']} customers.",
        "",
        "rps x ceil: requests/s as a fraction of the ceiling (GET /health/live on products) "
        "at the same connection count; p50/p99 x ceil: latency as a multiple of the "
        "ceiling's. Errors: responses with status ≥ 400 (non-2xx/3xx) / socket errors.",
        "",
        "| scenario | conns | req/s | rps x ceil | p50 ms | p50 x ceil | p99 ms | p99 x ceil "
        "| errors (http/socket) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for scenario in report["scenarios"]:
        for row in scenario["runs"]:
            rps = fmt(row["rps"], ",.1f")
            if scenario.get("per_core"):
                rps += f" ({row['rps'] / meta['cpus']:.1f}/core)"
            lines.append(
                f"| {scenario['title']} | {row['connections']} | {rps} "
                f"| {fmt(row.get('rps_vs_ceiling'), '.3f')} | {row['p50_ms']:.2f} "
                f"| {fmt(row.get('p50_x_ceiling'), '.1f')} | {row['p99_ms']:.2f} "
                f"| {fmt(row.get('p99_x_ceiling'), '.1f')} "
                f"| {row['non_2xx_3xx']}/{row['socket_errors']} |"
            )
    gateway = {s["name"]: s for s in report["scenarios"]}
    if "product_direct" in gateway and "product_gateway" in gateway:
        lines += ["", "Gateway cost, product reads (gateway rps / direct rps):"]
        for direct, through in zip(
            gateway["product_direct"]["runs"], gateway["product_gateway"]["runs"], strict=True
        ):
            ratio = through["rps"] / direct["rps"] if direct["rps"] else float("nan")
            lines.append(f"- {direct['connections']} connections: {ratio:.2f}")
    if meta.get("notes"):
        lines += ["", *(f"- {note}" for note in meta["notes"])]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 5))
    for scenario in report["scenarios"]:
        conns = [row["connections"] for row in scenario["runs"]]
        left.plot(
            conns, [row["rps"] for row in scenario["runs"]], marker="o", label=scenario["title"]
        )
        middle.plot(conns, [row["p50_ms"] for row in scenario["runs"]], marker="o")
        right.plot(conns, [row["p99_ms"] for row in scenario["runs"]], marker="o")
    for axes, title in (
        (left, "requests/s"),
        (middle, "p50 latency (ms)"),
        (right, "p99 latency (ms)"),
    ):
        axes.set_xscale("log", base=2)
        connections = report["meta"]["connections"]
        axes.set_xticks(connections, [str(c) for c in connections])
        axes.minorticks_off()
        axes.set_yscale("log")
        axes.set_xlabel("connections")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
    figure.legend(loc="lower center", ncol=4, fontsize="small")
    meta = report["meta"]
    figure.suptitle(
        f"shop benchmark {meta['stamp']}: {meta['products']} products, {meta['cpus']} CPUs"
    )
    figure.tight_layout(rect=(0, 0.12, 1, 0.95))
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000, help="demo catalog size")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(part) for part in text.split(",") if part.strip()],
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
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    if any(c < 1 or c > 1024 for c in args.connections):
        parser.error("connections must be between 1 and 1024")
    if not 1 <= args.duration <= 600:
        parser.error("duration must be between 1 and 600 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: sudo apt-get install -y wrk", file=sys.stderr)
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    root = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    system: System | None = None
    failed = True
    try:
        print(f"starting shop up in {root} ...")
        system = start_system(root, args.bcrypt_rounds, args.startup_timeout)
        print(f"  up: {system.ports}")
        print(f"seeding {args.products} products ...")
        seed_summary = seed(system, args.products)

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
        gateway, products = system.url(), system.url("products")
        query = SEARCH_QUERY.replace(" ", "%20")
        scenarios = [
            Scenario(
                "ceiling",
                "ceiling: GET /health/live (products)",
                products + "/health/live",
                "report.lua",
            ),
            Scenario(
                "product_direct",
                "GET product by id, direct",
                products,
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
                "order_hot",
                "place order, one hot product, via gateway",
                gateway,
                "order.lua",
                [str(files / "tokens.txt"), str(files / "hot.txt")],
            ),
        ]
        if args.only:
            wanted = {"ceiling", *(name.strip() for name in args.only.split(","))}
            scenarios = [s for s in scenarios if s.name in wanted]

        results: list[dict[str, Any]] = []
        for scenario in scenarios:
            runs = []
            for connections in args.connections:
                row = run_wrk(scenario, connections, args.duration)
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
        version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        wrk_version = (version.stdout.splitlines() or [""])[0]
        report = {
            "meta": {
                "stamp": stamp,
                "products": args.products,
                "seed": seed_summary,
                "duration_s": args.duration,
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
        (args.out / f"{stamp}.json").write_text(to_json(report))
        table = markdown(report)
        (args.out / f"{stamp}.md").write_text(table)
        print()
        print(table)
        png = args.out / f"{stamp}.png"
        if plot(report, png):
            print(f"wrote {png}")
        else:
            print("matplotlib is not installed: no PNG (uv pip install matplotlib)")
        print(f"wrote {args.out / (stamp + '.json')} and {args.out / (stamp + '.md')}")
        failed = False
        return 0
    finally:
        if system is not None:
            code = system.stop()
            print(f"shop up stopped (exit code {code})")
            if failed:
                print(f"--- last lines of shop up's log ---\n{system.log_tail()}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
