"""`shop up` as a real process tree, for the end-to-end tests."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from shop.cli.processes import port_is_free

SERVICES = ("gateway", "auth", "products", "orders", "admin")
# The admin auth creates at start (BOOTSTRAP_ADMIN_*), for tests that need one.
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "an admin's long and unusual passphrase"


@dataclass
class RunningSystem:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log_path: Path
    data_dir: Path

    def url(self, service: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"shop up exited early:\n{self.log()[-4000:]}")
            # Ready as the user sees it: the banner is printed once every service is ready.
            if "The shop is up" in self.log():
                assert httpx.get(self.url() + "/health/ready", timeout=5).status_code == 200
                return
            time.sleep(0.2)
        raise AssertionError(f"the system was not ready in time:\n{self.log()[-4000:]}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)


def unused_port() -> int:
    """A free port below the kernel's ephemeral range. The other tests' servers bind
    port 0 (an ephemeral port), so between choosing this port and `shop up` binding
    it, none of them can take it."""
    while True:
        port = random.randint(20_000, 29_999)  # noqa: S311 - not for security
        if port_is_free("127.0.0.1", port):
            return port


PORT_TAKEN = "ports already in use"


def start_system(
    data_dir: Path,
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
    up_args: Sequence[str] = (),
) -> RunningSystem:
    """Everything embedded, as on a fresh laptop: no database or Redis URL configured.
    ``extra_env`` adds settings (shorter intervals, higher rate limits ...), ``up_args``
    options of `shop up` (``--scale products=2``).

    The ports are chosen here, before `shop up` binds them, so another test's system
    may take one in between (the other xdist worker draws from the same range): `shop
    up` then refuses to start, saying so, and it is started again on other ports. Any
    other early exit fails the test."""
    for _attempt in range(3):
        system = _launch(data_dir, log_path, extra_env, up_args)
        try:
            system.wait_ready()
        except AssertionError:
            if system.process.poll() is not None and PORT_TAKEN in system.log():
                continue
            raise
        return system
    raise AssertionError(f"three sets of ports were taken:\n{system.log()[-4000:]}")


def _launch(
    data_dir: Path,
    log_path: Path,
    extra_env: Mapping[str, str] | None,
    up_args: Sequence[str],
) -> RunningSystem:
    ports = {service: unused_port() for service in SERVICES}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_DATABASE_URL", "_URLS")) and key != "REDIS_URL"
    }
    env |= {f"{service.upper()}_PORT": str(port) for service, port in ports.items()}
    env |= {
        "SHOP_DATA_DIR": str(data_dir),
        "LOG_FORMAT": "json",
        "EMAIL_BACKEND": "file",
        "EMAIL_FILE_DIR": str(data_dir / "mail"),
        "BCRYPT_ROUNDS": "4",
        # Room for a loaded machine (the default is a minute).
        "STARTUP_TIMEOUT": "240",
        "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    env |= dict(extra_env or {})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "shop", "up", *up_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return RunningSystem(process, ports, log_path, data_dir)


def is_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
