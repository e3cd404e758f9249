"""A service run as a real process (``python -m shop serve NAME``), as in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from shop.cli.processes import stop


def clean_environment(**values: str) -> dict[str, str]:
    """This environment without settings a developer may have exported, plus ``values``."""
    dropped = ("OTEL_", "SHUTDOWN_", "AUTH_", "PRODUCTS_", "ORDERS_", "GATEWAY_", "REDIS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(values)
    return env


@contextmanager
def running(
    command: list[str],
    env: Mapping[str, str],
    base_url: str,
    workdir: Path,
    startup_seconds: float = 120,  # a Python service starting on a loaded machine
) -> Iterator[subprocess.Popen[bytes]]:
    """Starts ``command`` in ``workdir`` (no ``.env`` there), waits until ``base_url``
    answers ``/health/live`` (a loaded machine can take half a minute to start one),
    stops it with SIGTERM on exit. Its output goes to a log file in ``workdir``,
    shown if it fails to start."""
    log_path = workdir / f"{Path(command[-1]).name}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=dict(env), cwd=workdir, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                if httpx.get(base_url + "/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command} did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            stop(process, timeout=20)


def shop_serve(service: str) -> list[str]:
    return [sys.executable, "-m", "shop", "serve", service]
