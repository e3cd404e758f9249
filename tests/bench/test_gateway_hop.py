"""bench/gateway_hop.py's own arithmetic and report, on a committed result and on real
child processes: what it prints about the gateway's CPU per request must add up."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


@pytest.fixture(scope="module")
def hop() -> ModuleType:
    path = ROOT / "bench" / "gateway_hop.py"
    spec = importlib.util.spec_from_file_location("bench_gateway_hop", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gateway_hop"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def busy_child() -> Iterator[subprocess.Popen[bytes]]:
    """A child that spends some CPU, then waits on stdin, named like `shop serve gateway`."""
    code = "import sys\nsum(range(3_000_000))\nprint('done', flush=True)\nsys.stdin.read()"
    child = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "gateway"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"done\n"  # its CPU is spent
    yield child
    child.communicate(b"")


def test_cpu_seconds_agree_with_the_kernels_clock_ticks(
    hop: ModuleType, busy_child: subprocess.Popen[bytes]
) -> None:
    raw = Path(f"/proc/{busy_child.pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = (int(fields[11]) + int(fields[12])) / hop.CLOCK_TICKS

    seconds = hop.cpu_seconds(busy_child.pid)

    assert seconds > 0
    # The same time, counted in nanoseconds rather than in ticks of 1/CLK_TCK s.
    assert abs(seconds - ticks) <= 3 / hop.CLOCK_TICKS + 0.05 * seconds


@pytest.fixture
def shell_serving_gateway() -> Iterator[tuple[int, int]]:
    """A shell whose one child is named like `shop serve gateway`: (shell pid, child pid).
    The shell, not this test's worker, is the root searched: the worker may have real
    `shop serve` children of its own (other tests' systems)."""
    child = '"$0" -c "import os, sys; print(os.getpid(), flush=True); sys.stdin.read()"'
    shell = subprocess.Popen(
        ["bash", "-c", f"{child} serve gateway; true", sys.executable],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert shell.stdout is not None
    child_pid = int(shell.stdout.readline())
    yield shell.pid, child_pid
    shell.communicate(b"")


def test_the_served_process_is_found_by_its_command_line(
    hop: ModuleType, shell_serving_gateway: tuple[int, int]
) -> None:
    shell, child = shell_serving_gateway
    assert hop.served(shell, "gateway") == child
    with pytest.raises(RuntimeError, match="no `shop serve products`"):
        hop.served(shell, "products")


@pytest.mark.parametrize(
    ("frame", "package"),
    [
        ("Proxy.forward (shop/gateway/proxy.py:212)", "shop/gateway"),
        ("AsyncClient.send (httpx/_client.py:1629)", "httpx"),
        ("RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:524)", "uvicorn"),
        ("Runner.run (asyncio/runners.py:118)", "asyncio"),
        ("Logger._log (logging/__init__.py:1634)", "logging"),
        ("ip_address (ipaddress.py:45)", "ipaddress"),
        ("<module> (somewhere/else.py:3)", "other: else.py"),
    ],
)
def test_profile_frames_are_counted_by_package(hop: ModuleType, frame: str, package: str) -> None:
    assert hop.package_of(frame) == package


def committed_results() -> list[Path]:
    return sorted(RESULTS.glob("*-gateway-hop.json"))


@pytest.mark.parametrize("path", committed_results(), ids=lambda path: path.stem)
def test_a_committed_result_adds_up(hop: ModuleType, path: Path) -> None:
    report = json.loads(path.read_text())

    summary = hop.summarize(report["runs"])

    assert summary == report["summary"]
    for name, figures in summary.items():
        runs = [row for row in report["runs"] if row["target"] == name]
        assert figures["rps"] == pytest.approx(sum(row["rps"] for row in runs) / len(runs), 0.01)
        cpu = [row["cpu_ms"]["gateway"] for row in runs]
        assert figures["gateway_cpu_ms"] == pytest.approx(sum(cpu) / len(cpu), abs=0.001)
    table = hop.markdown(report)
    assert table == path.with_suffix(".md").read_text()
    # A row per run, and one in the summary.
    rows = [line for line in table.splitlines() if line.startswith("| gateway | ")]
    assert len(rows) == len([row for row in report["runs"] if row["target"] == "gateway"]) + 1
