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
import functools
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
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

# `python bench/gateway_hop.py` puts bench/ itself on the path; the package is imported
# from the directory above it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.hop_processes import CLOCK_TICKS, cpu_seconds, served
from bench.hop_profile import package_of, profile
from bench.hop_report import markdown, summarize

__all__ = [
    "CLOCK_TICKS",
    "cpu_seconds",
    "main",
    "markdown",
    "package_of",
    "served",
    "summarize",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
UNLIMITED = "100000000/minute"  # the rate limits are checked, never exhausted
SERVICES = ("gateway", "auth", "products", "orders", "admin")


def free_port() -> int:
    import socket

    while True:
        port = random.randint(20_000, 29_999)  # noqa: S311 - not for security
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port


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
                    load = functools.partial(wrk, url, ids, max(connections), args.duration)
                    profiles[name] = profile(pid, args.duration, out, load)
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
