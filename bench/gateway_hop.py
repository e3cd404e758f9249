"""What one proxied product read costs the gateway: CPU per request, side by side.

Starts `shop up` (fresh data directory, embedded PostgreSQL and Redis) with a small
demo catalog, then drives ``GET /api/v1/products/{id}`` with wrk (random ids, the
bench's get_random.lua) at each target:

- ``direct``: the products service itself (what the hop adds to), on its own;
- ``gateway``: the gateway of this checkout;
- ``baseline`` (with ``--baseline REF``): a second gateway process, started from the
  ``src/`` of git ref REF, with exactly the environment `shop up` gave the first, in
  front of the same products service.

The two gateways are loaded at the same time (``--apart``: in turn), each with the
given connections, so that whatever else the machine runs weighs on both alike;
``--rounds`` repeats it all. For each run it reports requests/s, p50/p99 and the CPU
milliseconds per request of each gateway process and of the products process, from
/proc/<pid>/task/*/schedstat before and after. With ``--profile`` it also samples
each gateway under load with py-spy (``uv pip install py-spy`` in the venv; not in
the locks), counting only samples that hold the GIL, and prints where its time goes
by package. See bench/README.md, "The gateway hop".
"""

# ruff: noqa: S603, S607 - it runs this checkout's own commands, git and wrk
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
UNLIMITED = "100000000/minute"  # the rate limits are checked, never exhausted
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVICES = ("gateway", "auth", "products", "orders", "admin")


def free_port() -> int:
    import socket

    while True:
        port = random.randint(20_000, 29_999)  # noqa: S311 - not for security
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port


def cpu_seconds(pid: int) -> float:
    """CPU time of all the process's threads: from schedstat (nanoseconds) where the
    kernel has it, else from stat (clock ticks: 10 ms, coarse for a short run)."""
    try:
        return sum(
            int((task / "schedstat").read_text().split()[0]) / 1e9
            for task in Path(f"/proc/{pid}/task").iterdir()
        )
    except (OSError, ValueError, IndexError):
        raw = Path(f"/proc/{pid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(root: int) -> list[int]:
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found.append(int(child))
                pending.append(int(child))
    return found


def served(root: int, service: str) -> int:
    """The pid of `shop serve SERVICE` under ``root``."""
    for pid in children(root):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [word.decode() for word in argv if word]
        if "serve" in words and words[words.index("serve") + 1 :][:1] == [service]:
            return pid
    raise RuntimeError(f"no `shop serve {service}` under {root}")


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            lines = log.read_text(errors="replace").splitlines()
            problems = [line for line in lines if '"level": "error"' in line or "Error:" in line]
            raise RuntimeError("exited early:\n" + "\n".join(problems[-10:] + lines[-10:]))
        try:
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready in {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def start_system(root: Path) -> tuple[subprocess.Popen[bytes], dict[str, str], dict[str, str]]:
    ports = {service: str(free_port()) for service in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_URLS"))}
    env |= {f"{service.upper()}_PORT": port for service, port in ports.items()}
    env |= {
        "SHOP_DATA_DIR": str(root / "data"),
        "LOG_FORMAT": "json",
        "EMAIL_BACKEND": "file",
        "EMAIL_FILE_DIR": str(root / "data" / "mail"),
        "RATE_LIMIT_DEFAULT": UNLIMITED,
        "RATE_LIMIT_AUTH": UNLIMITED,
        # A loaded machine starts four services slower than `shop up`'s default allows.
        "STARTUP_TIMEOUT": "300",
    }
    log = root / "shop-up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shop", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    wait_ready(urls["gateway"], process, log, timeout=300)
    return process, env, urls


def seed(root: Path, env: dict[str, str], products: int) -> None:
    runtime = (root / "data" / "runtime.env").read_text().splitlines()
    env = env | dict(line.split("=", 1) for line in runtime if "=" in line)
    command = [sys.executable, "-m", "shop", "seed-demo", "--products", str(products)]
    subprocess.run([*command, "--no-images"], env=env, check=True, capture_output=True)


def write_ids(products_url: str, path: Path, wanted: int = 1000) -> None:
    ids: list[str] = []
    cursor = None
    while len(ids) < wanted:
        params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        body = httpx.get(products_url + "/api/v1/products", params=params, timeout=30).json()
        ids += [item["id"] for item in body["items"]]
        cursor = body.get("next_cursor")
        if not cursor:
            break
    path.write_text("\n".join(ids) + "\n")


def start_baseline(
    root: Path, ref: str, gateway_pid: int
) -> tuple[subprocess.Popen[bytes], str, int]:
    """A gateway from ``ref``'s src/, with the environment of the running one."""
    tree = root / "baseline"
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    raw = Path(f"/proc/{gateway_pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    port = free_port()
    env |= {"GATEWAY_PORT": str(port), "PYTHONPATH": str(tree / "src")}
    where = subprocess.run(
        [sys.executable, "-c", "import shop; print(shop.__file__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not where.startswith(str(tree)):
        raise RuntimeError(f"the baseline would import shop from {where}")
    log = root / "baseline-gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shop", "serve", "gateway"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, log, timeout=60)
    return process, url, process.pid


def wrk(url: str, ids: Path, connections: int, seconds: int) -> dict[str, Any]:
    threads = max(1, min(connections, os.cpu_count() or 1))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / "get_random.lua"),
        url,
        "--",
        str(ids),
        "/api/v1/products/",
    ]
    done = subprocess.run(
        command,
        env=os.environ | {"BENCH_LUA_DIR": str(BENCH_DIR)},
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
    )
    match = re.search(r"^BENCH_JSON (.*)$", done.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(match.group(1))
    errors = raw["errors"]
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "errors": errors["status"] + errors["connect"] + errors["read"] + errors["timeout"],
    }


def measure(
    name: str, url: str, pids: dict[str, int], ids: Path, connections: int, seconds: int
) -> dict[str, Any]:
    before = {label: cpu_seconds(pid) for label, pid in pids.items()}
    result = wrk(url, ids, connections, seconds)
    after = {label: cpu_seconds(pid) for label, pid in pids.items()}
    requests = max(1, result["requests"])
    cpu = {label: round((after[label] - before[label]) * 1000 / requests, 3) for label in pids}
    row = {"target": name, "connections": connections, **result, "cpu_ms": cpu}
    print(f"  {name:9} c={connections:<3} {result['rps']:8.1f} req/s  cpu ms/req {cpu}", flush=True)
    return row


def measure_together(
    targets: dict[str, tuple[str, int]],
    products_pid: int,
    ids: Path,
    connections: int,
    seconds: int,
) -> list[dict[str, Any]]:
    """wrk against every gateway at once, ``connections`` each: on a shared machine whose
    load comes and goes, they then run under the same load, and their CPU per request
    compares fairly. The products service's CPU is per request of all of them."""
    pids = {name: pid for name, (_, pid) in targets.items()} | {"products": products_pid}
    before = {label: cpu_seconds(pid) for label, pid in pids.items()}
    with ThreadPoolExecutor(len(targets)) as pool:
        futures = {
            name: pool.submit(wrk, url, ids, connections, seconds)
            for name, (url, _) in targets.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    after = {label: cpu_seconds(pid) for label, pid in pids.items()}
    spent = {label: (after[label] - before[label]) * 1000 for label in pids}
    total = max(1, sum(result["requests"] for result in results.values()))
    rows = []
    for name, result in results.items():
        cpu = {
            "gateway": round(spent[name] / max(1, result["requests"]), 3),
            "products": round(spent["products"] / total, 3),
        }
        rows.append({"target": name, "connections": connections, **result, "cpu_ms": cpu})
        print(f"  {name:9} c={connections:<3} {result['rps']:8.1f} req/s  cpu ms/req {cpu}")
    return rows


# Where the gateway's time goes: each py-spy sample counted once for the innermost
# frame's package (self time), grouped by these prefixes of the file path.
PACKAGES = (
    "shop/gateway",
    "shop/kit",
    "starlette",
    "fastapi",
    "uvicorn",
    "httpx",
    "httpcore",
    "anyio",
    "h11",
    "structlog",
    "logging",
    "prometheus_client",
    "limits",
    "redis",
    "asyncio",
    "opentelemetry",
    "ipaddress",
    "json",
    "uuid",
    "re",
)


def package_of(frame: str) -> str:
    # py-spy writes "function (path/to/file.py:line)", the path relative to sys.path.
    path = "/" + (frame[frame.find("(") + 1 : frame.rfind(":")] if "(" in frame else frame)
    for package in PACKAGES:
        if f"/{package}/" in path or path.endswith(f"/{package}.py"):
            return package
    return "other: " + Path(path).name if path else "other"


# What a proxied read spends its time on: each sample goes to the first part whose
# marker is in its stack (an access log line written from the middleware is "access
# log", not "middleware"). The last part takes what the app did outside the others.
PARTS = (
    ("access log and other logging", ("structlog/", "logging/")),
    ("rate limit (Redis)", ("RateLimiter.",)),
    ("upstream HTTP client", ("handle_async_request", "AsyncClient.send", "read_raw", "relayed (")),
    ("metrics", ("prometheus_client/", "HttpMetrics.")),
    ("writing the response", ("RequestResponseCycle.send",)),
    ("ASGI app: framework, routing, middleware", ("run_asgi",)),
)
OUTSIDE_THE_APP = "server and event loop (uvicorn, uvloop)"


def part_of(frames: list[str]) -> str:
    for part, markers in PARTS:
        if any(marker in frame for frame in frames for marker in markers):
            return part
    return OUTSIDE_THE_APP


def profile(pid: int, url: str, ids: Path, connections: int, seconds: int, out: Path) -> dict:
    """py-spy's samples of ``pid`` while wrk loads ``url``: self time by package."""
    raw = out.with_suffix(".txt")
    spy = subprocess.Popen(
        [
            shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "250",
            "--gil",
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    wrk(url, ids, connections, seconds)
    spy.wait(60)
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_time[package_of(frames[-1])] += count
        parts[part_of(frames)] += count
        for package in {package_of(frame) for frame in frames}:
            inclusive[package] += count
    return {
        "samples": total,
        "parts": {k: round(v / total, 3) for k, v in parts.most_common()},
        "self": {k: round(v / total, 3) for k, v in self_time.most_common(25)},
        "inclusive": {k: round(v / total, 3) for k, v in inclusive.most_common(25)},
    }


def markdown(report: dict[str, Any]) -> str:
    rows = report["runs"]
    lines = [
        f"# Gateway hop, {report['meta']['stamp']}",
        "",
        f"{report['meta']['products']} products, wrk {report['meta']['seconds']} s per run, "
        f"{report['meta']['rounds']} rounds, the gateways loaded "
        f"{'in turn' if report['meta']['apart'] else 'at the same time'}; baseline: "
        f"`{report['meta']['baseline'] or '-'}`, gateway: `{report['meta']['head']}`.",
        "",
        "| target | conns | req/s | p50 ms | p99 ms | errors "
        "| gateway CPU ms/req | products CPU ms/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gateway_cpu = row["cpu_ms"].get("gateway", "-") if row["target"] != "direct" else "-"
        lines.append(
            f"| {row['target']} | {row['connections']} | {row['rps']:.0f} | {row['p50_ms']:.2f} "
            f"| {row['p99_ms']:.2f} | {row['errors']} | {gateway_cpu} "
            f"| {row['cpu_ms']['products']} |"
        )
    summary = report.get("summary") or {}
    if summary:
        lines += ["", "| target | mean req/s | mean gateway CPU ms/req |", "|---|---|---|"]
        for name, figures in summary.items():
            lines.append(f"| {name} | {figures['rps']:.0f} | {figures['gateway_cpu_ms']} |")
    for name, found in (report.get("profiles") or {}).items():
        lines += ["", f"Profile of {name} ({found['samples']} samples), by part:", ""]
        lines += [f"- {part}: {share:.1%}" for part, share in found.get("parts", {}).items()]
        lines += ["", "Self time by package:", ""]
        lines += [f"- {package}: {share:.1%}" for package, share in found["self"].items()]
    return "\n".join(lines) + "\n"


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary = {}
    for name in dict.fromkeys(row["target"] for row in runs if row["target"] != "direct"):
        mine = [row for row in runs if row["target"] == name]
        summary[name] = {
            "rps": round(sum(row["rps"] for row in mine) / len(mine), 1),
            "gateway_cpu_ms": round(sum(row["cpu_ms"]["gateway"] for row in mine) / len(mine), 3),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", default="32", help="comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", help="a git ref whose gateway runs side by side")
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway(s)")
    parser.add_argument("--no-direct", action="store_true", help="skip the products-only runs")
    parser.add_argument(
        "--apart",
        action="store_true",
        help="load the gateways in turn, not at the same time (see measure_together)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    head = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="gateway-hop-") as tmp:
        root = Path(tmp)
        try:
            system, env, urls = start_system(root)
        except RuntimeError as exc:  # a start-up that timed out on a loaded machine
            print(f"shop up failed, trying once more: {str(exc)[:2000]}", flush=True)
            shutil.rmtree(root / "data", ignore_errors=True)
            system, env, urls = start_system(root)
        processes = [system]
        try:
            print(f"seeding {args.products} products", flush=True)
            seed(root, env, args.products)
            ids = root / "ids.txt"
            write_ids(urls["products"], ids)
            products_pid = served(system.pid, "products")
            targets = {"gateway": (urls["gateway"], served(system.pid, "gateway"))}
            if args.baseline:
                baseline, url, pid = start_baseline(root, args.baseline, targets["gateway"][1])
                processes.append(baseline)
                targets = {"baseline": (url, pid), **targets}
            for url, _ in targets.values():  # warm: caches, pools, JIT-less but cold paths
                wrk(url, ids, max(connections), 3)
            runs = []
            for _ in range(args.rounds):
                for conns in connections:
                    if not args.no_direct:
                        runs.append(
                            measure(
                                "direct",
                                urls["products"],
                                {"products": products_pid},
                                ids,
                                conns,
                                args.duration,
                            )
                        )
                    if args.apart or len(targets) == 1:
                        for name, (url, pid) in targets.items():
                            pids = {"gateway": pid, "products": products_pid}
                            runs.append(measure(name, url, pids, ids, conns, args.duration))
                    else:
                        runs += measure_together(targets, products_pid, ids, conns, args.duration)
            profiles = {}
            if args.profile:
                for name, (url, pid) in targets.items():
                    out = root / f"profile-{name}"
                    profiles[name] = profile(pid, url, ids, max(connections), args.duration, out)
        finally:
            for process in reversed(processes):
                stop(process)
    report = {
        "meta": {
            "stamp": stamp,
            "products": args.products,
            "seconds": args.duration,
            "rounds": args.rounds,
            "apart": args.apart,
            "baseline": args.baseline,
            "head": head,
            "cpus": os.cpu_count(),
        },
        "runs": runs,
        "summary": summarize(runs),
        "profiles": profiles,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stamp}-gateway-hop.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / f"{stamp}-gateway-hop.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
