"""`shop serve SERVICE`: one service under uvicorn (uvloop, httptools).

On SIGTERM (or Ctrl-C) the service drains: readiness answers 503 at once, the
listening socket is closed (new connections are refused), requests in flight get
``SHUTDOWN_GRACE_SECONDS`` to finish and are cancelled after that, then the app's
resources close and the process exits.
"""

from __future__ import annotations

import gc
import importlib
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from shop.cli.processes import port_is_free
from shop.cli.services import SERVICES
from shop.cli.startup_checks import migration_problem, port_problem, settings_problem
from shop.kit.config import ServiceSettings
from shop.kit.health import begin_draining
from shop.kit.logging import write_waiting_lines

# The process exit code uvicorn uses when the server could not start.
STARTUP_FAILURE = 3


class DrainingServer(uvicorn.Server):
    """Marks the app as draining as soon as a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            begin_draining(self.app)
        super().handle_exit(sig, frame)


# How long a service keeps an idle connection open: well past the time its callers keep
# one in their pools (shop.kit.http.CLIENT_KEEPALIVE_SECONDS), so that a caller never
# sends a request on a connection the service is closing (the gateway overrides it for
# the public: shop.gateway.app).
SERVICE_KEEP_ALIVE_SECONDS = 30


def uvicorn_options(settings: ServiceSettings) -> dict[str, Any]:
    return {
        "host": settings.bind_host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "proxy_headers": False,
        "timeout_keep_alive": SERVICE_KEEP_ALIVE_SECONDS,
    }


# Allocations between two collections of the youngest generation (CPython: 700). A
# request allocates thousands of short-lived objects; collecting ten times less often
# cost 5-10% less CPU per request in the services (bench, side by side), for a few MB.
YOUNG_GENERATION_THRESHOLD = 7000


def tune_garbage_collection() -> None:
    """What the app built at start-up (modules, routes, schemas) lives as long as the
    process: frozen, the collector never scans it again. Young objects are collected
    less often (above)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


def server_options(app: FastAPI) -> dict[str, Any]:
    """The uvicorn options for ``app``: the common ones, and those the app asks for in
    ``app.state.server_options`` (the gateway: a protocol that bounds slow clients)."""
    settings: ServiceSettings = app.state.settings
    return uvicorn_options(settings) | dict(getattr(app.state, "server_options", {}))


def run_app(app: FastAPI) -> int:
    """Serves ``app`` until it is told to stop, then drains it (see above)."""
    settings: ServiceSettings = app.state.settings
    tune_garbage_collection()
    server = DrainingServer(uvicorn.Config(app, **server_options(app)), app)
    if not settings.reuse_port:
        server.run()
    else:
        try:
            listening = shared_socket(settings.bind_host, settings.port)
        except OSError as exc:
            write_waiting_lines()
            print(f"cannot listen on {settings.bind_host}:{settings.port}: {exc}", file=sys.stderr)
            return STARTUP_FAILURE
        with listening:
            server.run(sockets=[listening])
    return 0 if server.started else STARTUP_FAILURE


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` that other processes may listen on too
    (SO_REUSEPORT: the kernel spreads new connections over them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listening.bind((host, port))
        listening.listen(2048)
        listening.set_inheritable(True)
    except OSError:
        listening.close()
        raise
    return listening


def _refuse(name: str, problem: str) -> int:
    write_waiting_lines()
    print(f"shop serve {name}: refusing to start, {problem}", file=sys.stderr)
    return STARTUP_FAILURE


def serve(name: str, *, reload: bool = False) -> int:
    spec = SERVICES[name]
    module_name, factory_name = spec.app_factory.split(":")
    # The service reads its settings (host, port, URLs) from the environment.
    try:
        app = getattr(importlib.import_module(module_name), factory_name)()
    except ValidationError as exc:  # which setting, and why (never its value)
        return _refuse(name, settings_problem(exc))
    settings: ServiceSettings = app.state.settings
    # Told before the app opens anything (uvicorn binds only after the lifespan).
    if (
        not settings.reuse_port
        and ":" not in settings.bind_host  # (the probe speaks IPv4)
        and not port_is_free(settings.bind_host, settings.port)
    ):
        return _refuse(name, port_problem(name, settings.bind_host, settings.port))
    database_url: str | None = getattr(settings, "database_url", None)
    if spec.database and database_url and (problem := migration_problem(spec, database_url)):
        return _refuse(name, problem)
    if not reload:
        return run_app(app)
    uvicorn.run(spec.app_factory, factory=True, reload=True, **server_options(app))
    return 0
