"""The system under test: `shop up` on free ports, the demo catalog, and the
fixtures the scenarios need (customers, product ids), over HTTP."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from shop.cli.processes import port_is_free

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SERVICES = ("gateway", "auth", "products", "orders", "admin")
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "the benchmark admin's long passphrase"  # noqa: S105 - a throwaway system
CUSTOMER_PASSWORD = "a benchmark customer's long passphrase"  # noqa: S105
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
    "checkout",
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
    root: Path,
    bcrypt_rounds: int,
    timeout: float,
    scale: dict[str, int] | None = None,
    extra_env: dict[str, str] | None = None,
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
    } | (extra_env or {})
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


def wait_for_outbox(system: System, timeout: float = 1800.0) -> None:
    """Until the products service has delivered the outbox messages the seed left (one
    per product): a backlog drained during the runs would be measured with them."""
    url = system.runtime_env()["PRODUCTS_DATABASE_URL"]

    async def pending() -> int:
        connection = await asyncpg.connect(url)
        try:
            count: int = await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
            )
        finally:
            await connection.close()
        return count

    started, deadline = time.monotonic(), time.monotonic() + timeout
    while (left := asyncio.run(pending())) > 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{left} outbox messages still undelivered after {timeout:.0f} s")
        time.sleep(2)
    print(f"  the products outbox is drained ({time.monotonic() - started:.0f} s)")


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
