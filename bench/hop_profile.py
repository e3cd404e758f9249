"""Where the gateway's time goes under load: py-spy's samples of its process, by package
and by part of a proxied request. Used by ``bench/gateway_hop.py --profile``."""

# ruff: noqa: S603 - it runs py-spy from this checkout's venv
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["package_of", "part_of", "profile"]


# Where the gateway's time goes: each py-spy sample counted once for the innermost
# frame's package (self time), grouped by these prefixes of the file path.
PACKAGES = (
    "shop/gateway",
    "shop/kit",
    "starlette",
    "fastapi",
    "uvicorn",
    "aiohttp",
    "yarl",
    "multidict",
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


def function_of(frame: str) -> str:
    """ "function (path/to/file.py:line)" without its line: one entry per function."""
    return frame[: frame.rfind(":")] + ")" if "(" in frame else frame


# What a proxied read spends its time on: each sample goes to the first part whose
# marker is in its stack (an access log line written from the middleware is "access
# log", not "middleware"). The last part takes what the app did outside the others.
PARTS = (
    ("access log and other logging", ("structlog/", "logging/")),
    ("rate limit (Redis)", ("RateLimiter.",)),
    (
        "upstream HTTP client",
        # shop.gateway.upstream_client (aiohttp, httpx), and the earlier proxy's names
        ("UpstreamClient.", "Answer.", "handle_async_request", "AsyncClient.send", "read_raw"),
    ),
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


def profile(pid: int, seconds: int, out: Path, load: Callable[[], object]) -> dict[str, Any]:
    """py-spy's samples of ``pid`` for ``seconds`` while ``load()`` runs: self time by
    package, inclusive time by package, and time by part of the request."""
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
    load()
    spy.wait(60)
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_time[package_of(frames[-1])] += count
        functions[function_of(frames[-1])] += count
        parts[part_of(frames)] += count
        for package in {package_of(frame) for frame in frames}:
            inclusive[package] += count
    return {
        "samples": total,
        "parts": {k: round(v / total, 3) for k, v in parts.most_common()},
        "self": {k: round(v / total, 3) for k, v in self_time.most_common(25)},
        "inclusive": {k: round(v / total, 3) for k, v in inclusive.most_common(25)},
        "functions": {k: round(v / total, 3) for k, v in functions.most_common(30)},
    }
