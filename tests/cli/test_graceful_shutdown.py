"""SIGTERM drains a service: readiness fails, new connections are refused, requests in
flight finish within SHUTDOWN_GRACE_SECONDS, and the process exits."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from shop.cli.processes import free_port
from shop.cli.serve import DrainingServer
from tests.cli.drain_app import create_drain_app
from tests.kit.service_process import clean_environment, running
from tests.support import app_client

REPOSITORY = Path(__file__).resolve().parents[2]


class InFlight(threading.Thread):
    """One slow request, sent from a thread of its own."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.response: httpx.Response | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.response = httpx.get(self.url, timeout=60)
        except httpx.HTTPError as exc:
            self.error = exc


def wait_for(path: Path, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not created"
        time.sleep(0.01)


def refuses_connections(base_url: str, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(base_url + "/health/live", timeout=0.5)
        except httpx.ConnectError:
            return True
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    return False


def drain_probe(tmp_path: Path, grace: int) -> tuple[list[str], dict[str, str], str, Path]:
    port = free_port()
    marker = tmp_path / "in-flight"
    command = [sys.executable, "-m", "tests.cli.drain_app", str(port), str(grace), str(marker)]
    env = clean_environment(PYTHONPATH=str(REPOSITORY))
    return command, env, f"http://127.0.0.1:{port}", marker


@pytest.mark.xdist_group("processes")
def test_a_request_in_flight_finishes_and_new_connections_are_refused(tmp_path: Path) -> None:
    command, env, base_url, marker = drain_probe(tmp_path, grace=15)
    with running(command, env, base_url, tmp_path) as process:
        request = InFlight(base_url + "/slow?seconds=3")
        request.start()
        wait_for(marker)
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)

        assert refuses_connections(base_url, seconds=10)
        request.join(30)
        assert request.error is None
        assert request.response is not None
        assert request.response.status_code == 200
        assert request.response.json() == {"slept": 3}
        # uvicorn re-raises the signal once drained: the exit status says SIGTERM.
        assert process.wait(30) == -signal.SIGTERM
        # Once drained, not at the end of the 15 s grace.
        assert time.monotonic() - stopped_at < 12


@pytest.mark.xdist_group("processes")
def test_requests_still_running_after_the_grace_period_are_cut(tmp_path: Path) -> None:
    command, env, base_url, marker = drain_probe(tmp_path, grace=1)
    with running(command, env, base_url, tmp_path) as process:
        request = InFlight(base_url + "/slow?seconds=30")
        request.start()
        wait_for(marker)
        process.send_signal(signal.SIGTERM)
        try:
            # 1 s of grace, then the app's shutdown: well before the request's 30 s.
            assert process.wait(20) == -signal.SIGTERM
        except subprocess.TimeoutExpired:
            pytest.fail("the service did not exit within its grace period")
        request.join(5)
        assert not request.is_alive()  # its connection closed with the process
        assert request.response is None or request.response.status_code >= 500


async def test_readiness_fails_as_soon_as_the_stop_signal_arrives(tmp_path: Path) -> None:
    app = create_drain_app(free_port(), 15, tmp_path / "unused")
    async with app_client(app) as client:
        assert (await client.get("/health/ready")).status_code == 200
        server = DrainingServer(uvicorn.Config(app), app)
        server.handle_exit(signal.SIGTERM, None)
        assert server.should_exit
        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["checks"] == {"shutdown": "draining"}
        assert (await client.get("/health/live")).status_code == 200
