"""A scenario and one wrk run of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.system import BENCH_DIR

# --- wrk -----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    title: str
    url: str
    script: str
    args: list[str] = field(default_factory=list)
    per_core: bool = False  # also report requests/s per CPU core
    # A scenario wrk can't drive (bench.checkout): (connections, duration) -> its row.
    runner: Callable[[int, int], dict[str, Any]] | None = None


def run_wrk(scenario: Scenario, connections: int, duration: int) -> dict[str, Any]:
    if scenario.runner is not None:
        return scenario.runner(connections, duration)
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
