"""`shop up`: the whole system in the foreground, supervised.

Services run as separate processes, one per instance (``--scale products=2``
runs two of products). One that crashes is reported loudly and
restarted; one that keeps crashing stops the whole system, so it is never
silently half up. SIGINT or SIGTERM stops the services first, then Redis and
PostgreSQL, and leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import psutil  # type: ignore[import-untyped]  # (no stubs in the lock)
import structlog
from pydantic import SecretStr

from shop.cli.config import CliSettings
from shop.cli.embedded import stored_secret
from shop.cli.embedded_search import SearchNodeUnavailableError
from shop.cli.first_run import next_steps, seed_demo_catalog, shop_contents
from shop.cli.processes import port_is_free, spawn, stop
from shop.cli.scaling import instance_ports
from shop.cli.search import index_catalog, up_search_layer
from shop.cli.services import SERVICES, ServiceSpec
from shop.cli.startup_checks import port_problem
from shop.cli.system import data_layer, migrate
from shop.kit.service_auth import generate_service_token, strong_service_token

log = structlog.get_logger("shop.supervisor")

MAX_RESTARTS = 3  # within RESTART_WINDOW seconds; one more crash stops everything
RESTART_WINDOW = 60.0


class StartupError(RuntimeError):
    pass


class StopFlag:
    """Set by the SIGINT/SIGTERM handler, read by the loops of the main thread.

    A plain attribute, no lock: a signal handler runs on the main thread between two
    bytecodes, possibly while that thread holds a lock. ``threading.Event.set()`` takes
    the lock that ``Event.wait()`` holds around its checks, so a signal arriving there
    made ``shop up`` wait for itself forever: "stop requested" logged, nothing stopped.
    """

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True

    def is_set(self) -> bool:
        return self.requested

    def wait(self, seconds: float) -> bool:
        """Whether a stop was requested, after at most ``seconds``. A signal interrupts
        the sleep (its handler runs), which then goes on for what is left of it."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
        return self.requested


@dataclass
class Child:
    spec: ServiceSpec
    port: int
    env: dict[str, str]
    label: str  # the service's name, numbered when it has several instances
    process: subprocess.Popen[bytes] | None = None
    crashes: deque[float] = field(default_factory=deque)

    @property
    def url(self) -> str:
        return f"http://{self.env['BIND_HOST']}:{self.port}"

    def start(self) -> None:
        self.process = spawn([sys.executable, "-m", "shop", "serve", self.spec.name], env=self.env)

    def record_crash(self, now: float) -> bool:
        """Whether the child may be restarted once more."""
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > RESTART_WINDOW:
            self.crashes.popleft()
        return len(self.crashes) <= MAX_RESTARTS


def stored_service_token(data_dir: Path) -> str:
    """The data directory's service.token: 32 random bytes, made on first use (and again
    if an older version made a shorter one, which the services refuse)."""

    def strong(token: str) -> bool:
        try:
            strong_service_token(SecretStr(token))
        except ValueError:
            return False
        return True

    return stored_secret(data_dir / "service.token", generate_service_token, strong)


def _children(
    settings: CliSettings, data_env: dict[str, str], ports: Mapping[str, list[int]]
) -> list[Child]:
    base = {**os.environ, **data_env, "BIND_HOST": settings.bind_host}
    base["SHOP_DATA_DIR"] = str(settings.data_dir.resolve())
    if "LOG_FORMAT" not in os.environ:
        base["LOG_FORMAT"] = settings.log_format
    base["SHOP_ENV"] = settings.environment
    # The gateway balances over every instance of each service.
    for name in ("auth", "products", "orders", "admin"):
        urls = [f"http://{settings.bind_host}:{port}" for port in ports[name]]
        base.setdefault(f"{name.upper()}_URLS", ",".join(urls))
    # The orders service proves itself to the products service's internal API with it.
    if "SERVICE_TOKEN" not in base:
        base["SERVICE_TOKEN"] = stored_service_token(settings.data_dir.resolve())
    # Every service verifies tokens against the auth service's keys (its first instance:
    # all of them publish the same keys).
    auth_url = f"http://{settings.bind_host}:{settings.port_of('auth')}"
    base.setdefault("JWKS_URL", auth_url + "/api/v1/auth/.well-known/jwks.json")
    # The dashboard calls the public API as any client does: through the gateway.
    gateway_url = f"http://{settings.bind_host}:{settings.port_of('gateway')}"
    base.setdefault("ADMIN_API_URL", gateway_url)
    # Picture URLs and email links name the gateway this system serves on (on another
    # port than 3000, the default would point at nothing). Bound to every address, the
    # loopback one is the address this machine's clients reach it at.
    public_host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host  # noqa: S104
    base.setdefault("PUBLIC_BASE_URL", f"http://{public_host}:{settings.port_of('gateway')}")
    # The orders service calls the products service's internal API directly, on every
    # instance (PRODUCTS_URLS, above), failing over between them. A PRODUCTS_URL of the
    # caller's own (and no PRODUCTS_URLS) still names the one products orders calls.
    own_products_url = "PRODUCTS_URL" in os.environ and "PRODUCTS_URLS" not in os.environ
    children = []
    for spec in SERVICES.values():
        for number, port in enumerate(ports[spec.name], start=1):
            env = {**base, f"{spec.env_prefix}_PORT": str(port)}
            if ports[spec.name].count(port) > 1:  # instances sharing one port
                env["REUSE_PORT"] = "true"
            if spec.name == "orders" and own_products_url:
                del env["PRODUCTS_URLS"]
            label = spec.name if len(ports[spec.name]) == 1 else f"{spec.name}-{number}"
            children.append(Child(spec, port, env, label))
    return children


def _listening(child: Child) -> bool:
    """Whether the child's own process listens on its port (instances sharing a port)."""
    assert child.process is not None
    try:
        connections = psutil.Process(child.process.pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == child.port for c in connections)


def _wait_ready(children: list[Child], deadline: float, timeout: float, stopping: StopFlag) -> bool:
    """True once every child is ready (by ``deadline``, a monotonic time ``timeout``
    seconds after the start-up began); False if asked to stop meanwhile."""
    pending = list(children)
    with httpx.Client(timeout=1.0) as client:
        while pending:
            if stopping.is_set():
                return False
            for child in list(pending):
                assert child.process is not None
                if child.process.poll() is not None:
                    raise StartupError(f"{child.label} exited during start-up; its reason is above")
                if child.env.get("REUSE_PORT") == "true" and not _listening(child):
                    continue  # a probe of the shared port may reach its twin, not it
                try:
                    if client.get(child.url + "/health/ready").status_code == 200:
                        pending.remove(child)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                names = ", ".join(c.label for c in pending)
                raise StartupError(f"not ready within {timeout:.0f} s: {names}")
            time.sleep(0.2)
    return True


def _write_runtime_env(path: Path, env: dict[str, str]) -> None:
    """The running system's URLs, for `shop serve` or psql in another terminal."""
    path.unlink(missing_ok=True)
    # Created 0600: it holds the database and Redis passwords.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write("".join(f"{key}={value}\n" for key, value in sorted(env.items())))


def up(
    settings: CliSettings,
    scale: Mapping[str, int] | None = None,
    search: str | None = None,
    demo: int | None = None,
) -> int:
    """``scale``: instances per service (default one each); ``search``: the search
    backend (else ``SEARCH_BACKEND``), OpenSearch without a URL being the embedded node;
    ``demo``: the demo catalog's size, loaded before the services start unless there."""
    try:
        return _up(settings, scale, search, demo)
    except SearchNodeUnavailableError as exc:
        log.error("no search node", error=str(exc))
        return 1


def _up(
    settings: CliSettings, scale: Mapping[str, int] | None, search: str | None, demo: int | None
) -> int:
    stopping = StopFlag()

    def request_stop(signum: int, _: FrameType | None) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    busy = [
        port_problem(name, settings.bind_host, settings.port_of(name))
        for name in SERVICES
        if not port_is_free(settings.bind_host, settings.port_of(name))
    ]
    if busy:
        for problem in busy:
            print(f"shop up: {problem}", file=sys.stderr)
        return 1
    ports = instance_ports(settings, scale or {})

    with data_layer(settings) as data_env, up_search_layer(settings, search) as search_env:
        migrate(data_env)
        if demo is not None and not seed_demo_catalog(data_env, demo):
            return 0  # stopped while seeding, as asked
        data_env |= search_env
        if "OPENSEARCH_URL" in search_env:  # the embedded node: the catalog goes into it
            index_catalog(data_env["PRODUCTS_DATABASE_URL"], search_env["OPENSEARCH_URL"])
        runtime_env = settings.data_dir / "runtime.env"
        _write_runtime_env(runtime_env, data_env)
        children = _children(settings, data_env, ports)
        try:
            # The services first, the gateway once they are ready: a gateway ready at
            # once then, and never one instance of a scaled gateway answering 503
            # while its twin on the same port is already ready.
            services = [c for c in children if c.spec.name != "gateway"]
            gateways = [c for c in children if c.spec.name == "gateway"]
            deadline = time.monotonic() + settings.startup_timeout
            for group in (services, gateways):
                for child in group:
                    child.start()
                if not _wait_ready(group, deadline, settings.startup_timeout, stopping):
                    return 0  # stopped during start-up, as asked
            print(_banner(children, runtime_env, search_env, data_env), flush=True)
            return _supervise(children, stopping)
        except StartupError as exc:
            log.error("start-up failed", error=str(exc))
            return 1
        finally:
            for child in reversed(children):  # the gateway first, the services after
                if child.process is not None:
                    stop(child.process, signal.SIGTERM, timeout=20)
            runtime_env.unlink(missing_ok=True)


def _supervise(children: list[Child], stopping: StopFlag) -> int:
    while not stopping.wait(0.5):
        for child in children:
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            if not child.record_crash(time.monotonic()):
                log.critical(
                    "SERVICE KEEPS CRASHING; STOPPING THE WHOLE SYSTEM",
                    service=child.label,
                    exit_code=code,
                )
                return 1
            log.error("SERVICE CRASHED; RESTARTING", service=child.label, exit_code=code)
            child.start()
    return 0


def _banner(
    children: list[Child],
    runtime_env: Path,
    search_env: Mapping[str, str],
    data_env: dict[str, str],
) -> str:
    lines = ["", "The shop is up:"]
    for child in children:
        lines.append(f"  {child.label:<11} {child.url}")
    if "OPENSEARCH_URL" in search_env:
        lines.append(f"  {'search':<11} {search_env['OPENSEARCH_URL']} (embedded OpenSearch)")
    gateway = next(c for c in children if c.spec.name == "gateway")
    lines += [
        f"  API docs    {gateway.url}/docs",
        f"  dashboard   {gateway.url}/admin/",
        f"  database and Redis URLs: {runtime_env}",
        *next_steps(shop_contents(data_env), f"{gateway.url}/admin/", runtime_env),
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)
