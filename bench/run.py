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
import math
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
from shop.cli.scaling import scale_argument

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SERVICES = ("gateway", "auth", "products", "orders")
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "the benchmark admin's long passphrase"  # noqa: S105 - a throwaway system
CUSTOMER_PASSWORD = "a benchmark customer's long passphrase"  # noqa: S105
SEARCH_QUERY = "wireles headphnes"  # two typos on purpose
HOT_PRODUCT_STOCK = 1_000_000  # so the hot product never sells out during a run
SCENARIOS = (
    "ceiling",
    "product_direct",
    "product_gateway",
    "listing",
    "search",
    "login",
    "order_spread",
    "order_keyed",
    "order_hot",
)
# Rate limits and login throttling would turn a load test into a test of 429s: the
# checks still run (and cost what they cost), with budgets no run can use up.
UNLIMITED = "100000000/minute"


# --- the system ------------------------------------------------------------------


# Read scenarios run once, unmeasured, before any is measured (--warmup).
WARMED_UP = ("product_direct", "product_gateway", "listing", "search")


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
    scale: dict[str, int] = field(default_factory=dict)
    # Every instance by service, as the banner lists them: [(label, url)], e.g.
    # products: [("products-1", "http://127.0.0.1:21000"), ("products-2", ...)].
    instances: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def url(self, service: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"shop up exited early:\n{self.log_tail()}")
            log = self.log_path.read_text(errors="replace")
            if "The shop is up" in log:
                httpx.get(self.url() + "/health/ready", timeout=5).raise_for_status()
                self.instances = banner_instances(log)
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

    def direct(self, service: str = "products") -> tuple[str, int]:
        """The instance the direct scenarios hit (the first: the service's own port) and
        how many instances the service has."""
        own = self.url(service)
        listed = self.instances.get(service) or [(service, own)]
        label = next((label for label, url in listed if url == own), None)
        if label is None:
            raise RuntimeError(f"{own} is not among the {service} instances: {listed}")
        return label, len(listed)


BANNER_LINE = re.compile(r"^\s+(?P<service>[a-z]+)(?:-\d+)?\s+(?P<url>https?://\S+)\s*$")


def banner_instances(log: str) -> dict[str, list[tuple[str, str]]]:
    """The instances listed in `shop up`'s "The shop is up:" banner, by service."""
    instances: dict[str, list[tuple[str, str]]] = {}
    banner = log[log.rindex("The shop is up") :].splitlines()[1:]
    for line in banner:
        match = BANNER_LINE.match(line)
        if match is None or match["service"] not in SERVICES:
            continue
        label = line.split()[0]
        instances.setdefault(match["service"], []).append((label, match["url"]))
    return instances


def scale_flags(scale: dict[str, int]) -> list[str]:
    return [f"--scale={name}={count}" for name, count in sorted(scale.items())]


def start_system(
    root: Path, bcrypt_rounds: int, timeout: float, scale: dict[str, int] | None = None
) -> System:
    ports = {service: unused_port() for service in SERVICES}
    while len(set(ports.values())) < len(ports):
        ports = {service: unused_port() for service in SERVICES}
    env = {
        key: value
        for key, value in os.environ.items()
        # The system's own URLs only: no database, Redis or service URL from the caller's
        # environment (PRODUCTS_URL would pin the orders service to one products instance).
        if not key.endswith(("_URL", "_URLS"))
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
        process = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "shop", "up", *scale_flags(scale or {})],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    system = System(process, ports, env, data_dir, log_path, dict(scale or {}))
    system.wait_ready(timeout)
    return system


def seed(system: System, products: int, *, images: bool = True) -> tuple[str, float]:
    """Runs `shop seed-demo`: (its summary line, seconds it took)."""
    env = system.env | system.runtime_env()
    started = time.monotonic()
    command = [sys.executable, "-m", "shop", "seed-demo", "--products", str(products)]
    done = subprocess.run(  # noqa: S603
        command if images else [*command, "--no-images"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"shop seed-demo failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    seconds = time.monotonic() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    print(f"  {summary} ({seconds:.0f} s)")
    return summary, round(seconds, 1)


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
    """(ids of active products, those of them in stock with a single variant: what an
    order names by product_id), up to `wanted`."""
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
            if item["available"] > 0 and len(item["variants"]) == 1:
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


# --- CPU per request ------------------------------------------------------------------

# Requests/s moves with whatever else the shared machine runs; the CPU time each process
# spends per request does not, so that is what tells a change's worth apart from noise.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process; None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the name, in parentheses, may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _component(pid: int) -> str:
    """What a process of the system is: a service's name, postgres, redis or other."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    words = [part.decode(errors="replace") for part in argv if part]
    if "serve" in words and words.index("serve") + 1 < len(words):
        return words[words.index("serve") + 1]
    first = Path(words[0]).name if words else ""
    if first.startswith("postgres") or (words and "postgres:" in words[0]):
        return "postgres"
    if "redis" in first:
        return "redis"
    return "other"


def cpu_by_process(root: int) -> dict[int, tuple[str, float]]:
    """The live processes under ``root``: pid -> (component, CPU seconds used so far)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, tuple[str, float]] = {}
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        found[pid] = (_component(pid), stats[pid][1])
    return found


def cpu_per_request(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request by component, between two samples: per process,
    so that one that ended meanwhile (a PostgreSQL backend whose pooled connection was
    replaced) takes its earlier total with it instead of making the sum negative. What a
    process spent in the run before it ended is not seen."""
    if not requests:
        return {}
    spent: dict[str, float] = {}
    for pid, (label, seconds) in after.items():
        earlier = before.get(pid, (label, 0.0))[1]
        spent[label] = spent.get(label, 0.0) + (seconds - earlier) * 1000 / requests
    return {label: round(ms, 3) for label, ms in sorted(spent.items()) if ms > 0}


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
    done = subprocess.run(  # noqa: S603
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
        # By status and problem type, for the scenarios that count them (orders).
        "failures": raw.get("failures") or {},
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
            row = {
                k: v
                for k, v in row.items()
                if (k != "socket_error_detail" or any(v.values())) and (k != "failures" or v)
            }
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
        f"{meta['products']} products seeded"
        f"{'' if meta.get('images', True) else ' without pictures (--no-images)'}"
        f"{'' if meta.get('seed_s') is None else ' in ' + format(meta['seed_s'], '.0f') + ' s'}; "
        f"{meta['duration_s']} s per run"
        f" (after {meta.get('warmup_s', 0)} s of unmeasured warm-up per read scenario); "
        f"{meta['cpus']} CPUs ({meta['machine']}); wrk threads = min(connections, CPUs); "
        f"bcrypt rounds {meta['bcrypt_rounds']}; {meta['customers']} customers.",
        "",
        topology(meta),
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
    lines += cpu_markdown(report)
    gateway = {s["name"]: s for s in report["scenarios"]}
    if "product_direct" in gateway and "product_gateway" in gateway:
        direct_label, instances = meta.get("direct", {}).get("label"), meta.get("instances", {})
        over = len(instances.get("products", [])) or 1
        lines += [
            "",
            "Gateway cost, product reads (gateway rps / direct rps)"
            + (
                f", the gateway over {over} products instances, direct to {direct_label} only:"
                if over > 1
                else ":"
            ),
        ]
        for direct, through in zip(
            gateway["product_direct"]["runs"], gateway["product_gateway"]["runs"], strict=True
        ):
            ratio = through["rps"] / direct["rps"] if direct["rps"] else float("nan")
            lines.append(f"- {direct['connections']} connections: {ratio:.2f}")
    explained = [
        f"- {scenario['title']}, {row['connections']} connections: "
        + ", ".join(f"{count} x {name}" for name, count in sorted(row["failures"].items()))
        for scenario in report["scenarios"]
        for row in scenario["runs"]
        if row.get("failures")
    ]
    if explained:
        lines += ["", "Errors by status and problem type (order scenarios):", *explained]
    if meta.get("notes"):
        lines += ["", *(f"- {note}" for note in meta["notes"])]
    return "\n".join(lines) + "\n"


CPU_COLUMNS = ("gateway", "auth", "products", "orders", "postgres", "redis", "other")


def cpu_markdown(report: dict[str, Any]) -> list[str]:
    """CPU milliseconds per request by process, at each scenario's most connections."""
    rows = []
    for scenario in report["scenarios"]:
        measured = [row for row in scenario["runs"] if row.get("cpu_ms")]
        if not measured:
            continue
        row = max(measured, key=lambda run: run["connections"])
        cpu = row["cpu_ms"]
        cells = " | ".join(format(cpu.get(label, 0.0), ".2f") for label in CPU_COLUMNS)
        rows.append(
            f"| {scenario['title']} | {row['connections']} | {cells} | {sum(cpu.values()):.2f} |"
        )
    if not rows:
        return []
    return [
        "",
        "CPU per request (ms, all instances of a service together; wrk's own not counted), "
        "at the most connections: what each request costs, steadier than req/s on a "
        "shared machine.",
        "",
        "| scenario | conns | " + " | ".join(CPU_COLUMNS) + " | total |",
        "|---|---:|" + "---:|" * (len(CPU_COLUMNS) + 1),
        *rows,
    ]


def topology(meta: dict[str, Any]) -> str:
    """One line: the `shop up` command line, the instances, and which one "direct" means."""
    scale = meta.get("scale") or {}
    command = " ".join(["shop up", *scale_flags(scale)]).replace("--scale=", "--scale ")
    instances = meta.get("instances") or {}
    counts = ", ".join(f"{name} x{len(instances.get(name, [])) or 1}" for name in SERVICES)
    direct = meta.get("direct") or {}
    line = f"`{command}`: {counts}."
    if direct:
        line += f" The ceiling and the direct product reads hit {direct['label']} ({direct['url']})"
        line += (
            f", one of the {direct['of']} products instances; the gateway balances over all "
            f"{direct['of']}."
            if direct["of"] > 1
            else "."
        )
    return line


def size_label(products: int) -> str:
    return f"{products // 1000}k" if products >= 1000 and products % 1000 == 0 else f"{products:,}"


def significant(value: float, digits: int = 3) -> str:
    """Fixed-point with `digits` significant digits: 0.220, 0.0100, 0.000841."""
    if value <= 0:
        return "0"
    return f"{value:.{max(digits, digits - 1 - math.floor(math.log10(value)))}f}"


def run_labels(reports: list[dict[str, Any]]) -> list[str]:
    """Column labels: the catalog size, and the scale when the runs' scales differ."""
    sizes = [size_label(report["meta"]["products"]) for report in reports]
    scales = [
        " ".join(f"{name} x{n}" for name, n in sorted((report["meta"].get("scale") or {}).items()))
        for report in reports
    ]
    if len(set(scales)) == 1:
        return sizes
    if len(set(sizes)) == 1:
        return [scale or "no --scale" for scale in scales]
    return [f"{size} {scale}".strip() for size, scale in zip(sizes, scales, strict=True)]


def scaling_summary(
    reports: list[dict[str, Any]], names: list[str], kind: str = "sizes"
) -> dict[str, Any]:
    """The figures the table of several runs shows, by scenario, connections and run
    (`kind`: "sizes", one run per catalog size, or "compare", any result files)."""
    first = reports[0]["meta"]
    summary: dict[str, Any] = {
        "meta": {
            "kind": kind,
            "stamp": first["stamp"],
            "labels": run_labels(reports),
            "sizes": [report["meta"]["products"] for report in reports],
            "files": names,
            "seed": [report["meta"]["seed"] for report in reports],
            "seed_s": [report["meta"].get("seed_s") for report in reports],
            "scales": [report["meta"].get("scale") or {} for report in reports],
            "durations_s": [report["meta"]["duration_s"] for report in reports],
            "stamps": [report["meta"]["stamp"] for report in reports],
            "images": first.get("images", True),
            **{
                key: first.get(key)
                for key in (
                    "duration_s",
                    "connections",
                    "customers",
                    "bcrypt_rounds",
                    "cpus",
                    "machine",
                    "wrk",
                )
            },
        },
        "scenarios": [],
    }
    # The ratios again, unrounded: login and orders are thousandths of the ceiling.
    ceilings = [
        {row["connections"]: row for row in report["scenarios"][0]["runs"]} for report in reports
    ]
    for scenario in reports[0]["scenarios"]:
        rows = []
        for row in scenario["runs"]:
            figures: list[dict[str, Any] | None] = []
            for report, ceiling in zip(reports, ceilings, strict=True):
                same = next(
                    (
                        other
                        for s in report["scenarios"]
                        if s["name"] == scenario["name"]
                        for other in s["runs"]
                        if other["connections"] == row["connections"]
                    ),
                    None,
                )
                if same is None:
                    figures.append(None)
                    continue
                base = ceiling.get(row["connections"]) or {}
                figures.append(
                    {
                        key: same.get(key)
                        for key in ("requests", "rps", "p99_ms", "non_2xx_3xx", "socket_errors")
                    }
                    | {
                        "rps_vs_ceiling": round(same["rps"] / base["rps"], 6)
                        if base.get("rps")
                        else None,
                        "p99_x_ceiling": round(same["p99_ms"] / base["p99_ms"], 3)
                        if base.get("p99_ms") and same.get("requests")
                        else None,
                    }
                )
            rows.append({"connections": row["connections"], "runs": figures})
        title = scenario["title"]
        if scenario["name"] == "order_spread":  # its title counts the first run's products
            title = "place order, products in stock at random, via gateway"
        summary["scenarios"].append({"name": scenario["name"], "title": title, "runs": rows})
    return summary


def scaling_markdown(summary: dict[str, Any]) -> str:
    """The table of several runs: per scenario and connection count, rps and p99 as ratios
    to the same run's ceiling, and the last run's ratio over the first's."""
    meta = summary["meta"]
    labels = meta["labels"]
    first, last = labels[0], labels[-1]
    if meta["kind"] == "sizes":
        seeding = "; ".join(
            f"{label}: {seconds:.0f} s" if seconds is not None else f"{label}: ?"
            for label, seconds in zip(labels, meta["seed_s"], strict=True)
        )
        command = " ".join(["shop up", *scale_flags(meta["scales"][0])])
        pictures = "" if meta.get("images", True) else ", without pictures (--no-images)"
        intro = [
            f"# Benchmark {meta['stamp']}: catalog sizes {', '.join(labels)}",
            "",
            f"One fresh `{command.replace('--scale=', '--scale ')}` per catalog size, one "
            f"after the other; {meta['duration_s']} s per run; {meta['cpus']} CPUs "
            f"({meta['machine']}); bcrypt rounds {meta['bcrypt_rounds']}; "
            f"{meta['customers']} customers.",
            "",
            "Each size's full table: "
            + ", ".join(
                f"[{label}]({name}.md)" for label, name in zip(labels, meta["files"], strict=True)
            )
            + f". Seeding (`shop seed-demo`{pictures}): {seeding}.",
        ]
        what = "the catalog size costs nothing"
    else:
        intro = [
            f"# Benchmark comparison: {', '.join(labels)}",
            "",
            "Compared runs (each ratio is to the ceiling measured in its own run):",
            "",
            *(
                f"- {label}: [{Path(name).name}]({name}) ({stamp}, {size:,} products, "
                f"`{' '.join(['shop up', *scale_flags(scale)]).replace('--scale=', '--scale ')}`"
                f", {duration} s per run)"
                for label, name, stamp, size, scale, duration in zip(
                    labels,
                    meta["files"],
                    meta["stamps"],
                    meta["sizes"],
                    meta["scales"],
                    meta["durations_s"],
                    strict=True,
                )
            ),
        ]
        what = "no difference"
    lines = [
        *intro,
        "",
        "rps x ceil: requests/s as a fraction of the ceiling measured in the same run at the "
        "same connection count (higher is better). p99 x ceil: p99 latency as a multiple of "
        "the ceiling's (lower is better). The ceiling rows give its absolute req/s and p99 ms "
        "instead: the ceiling does not depend on the catalog, so their spread is the "
        f"run-to-run noise. {last}/{first}: the {last} figure divided by the {first} one "
        f"(1.00: {what}; rps below 1 or p99 above 1: {last} is slower). "
        "! marks a run with errors (see its own table).",
        "",
    ]
    header = ["scenario", "conns"]
    for label in labels:
        header += [f"{label} rps x ceil", f"{label} p99 x ceil"]
    header += [f"rps {last}/{first}", f"p99 {last}/{first}"]
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a and b else "-"

    for scenario in summary["scenarios"]:
        ceiling = scenario["name"] == "ceiling"
        rps_key, p99_key = ("rps", "p99_ms") if ceiling else ("rps_vs_ceiling", "p99_x_ceiling")
        title = "ceiling (absolute req/s, p99 ms)" if ceiling else scenario["title"]
        for row in scenario["runs"]:
            cells = [title, str(row["connections"])]
            for figures in row["runs"]:
                if figures is None:
                    cells += ["-", "-"]
                    continue
                flag = " !" if figures["non_2xx_3xx"] or figures["socket_errors"] else ""
                rps, p99 = figures[rps_key], figures[p99_key]
                if not figures.get("requests", 1):
                    cells += [f"no request{flag}", "-"]
                elif ceiling:
                    cells += [f"{rps:,.0f}{flag}", f"{p99:.2f}{flag}"]
                else:
                    cells += [
                        "-" if rps is None else f"{significant(rps)}{flag}",
                        "-" if p99 is None else f"{p99:.1f}{flag}",
                    ]
            head, tail = row["runs"][0] or {}, row["runs"][-1] or {}
            cells += [
                ratio(tail.get(rps_key), head.get(rps_key)),
                ratio(tail.get(p99_key), head.get(p99_key)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(files: list[Path], out: Path) -> int:
    """`--compare A.json B.json ...`: the table of several runs from their result files."""
    reports = [json.loads(path.read_text()) for path in files]
    if any("scenarios" not in report or "products" not in report["meta"] for report in reports):
        print("--compare takes the result files of single runs, not -sizes.json", file=sys.stderr)
        return 2
    names = [os.path.relpath(path.resolve(), out.resolve()) for path in files]
    summary = scaling_summary(reports, [str(Path(n).with_suffix(".md")) for n in names], "compare")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}-compare.json").write_text(json.dumps(summary, indent=1) + "\n")
    table = scaling_markdown(summary)
    (out / f"{stamp}-compare.md").write_text(table)
    print(table)
    print(f"wrote {out / (stamp + '-compare.md')} and {stamp}-compare.json")
    return 0


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
        + "".join(f", {name} x{count}" for name, count in sorted(meta.get("scale", {}).items()))
    )
    figure.tight_layout(rect=(0, 0.12, 1, 0.95))
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


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


if __name__ == "__main__":
    sys.exit(main())
