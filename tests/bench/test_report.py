"""The bench's own arithmetic and report (the bench/ package), on a committed result and on
this process's real /proc entries: what `make bench` prints must add up."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "bench" / "results" / "2026-11-25T071900Z.json"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """The bench's modules as one namespace (bench/ is a package beside src/)."""
    sys.path.insert(0, str(ROOT))
    try:
        cpu = importlib.import_module("bench.cpu")
        report = importlib.import_module("bench.report")
    finally:
        sys.path.remove(str(ROOT))
    namespace = ModuleType("bench_run")
    namespace.__dict__.update(vars(cpu) | vars(report))
    return namespace


def test_cpu_per_request_is_per_process_and_ignores_ended_ones(bench: ModuleType) -> None:
    before = {10: ("gateway", 5.0), 11: ("postgres", 100.0), 12: ("postgres", 1.0)}
    # 11 ended (its 100 s must not cancel the others out), 13 is new.
    after = {10: ("gateway", 6.0), 12: ("postgres", 1.5), 13: ("postgres", 0.25)}

    assert bench.cpu_per_request(before, after, 1000) == {"gateway": 1.0, "postgres": 0.75}
    assert bench.cpu_per_request(before, after, 0) == {}


def test_the_cpu_of_a_real_child_process_is_found_and_labelled(bench: ModuleType) -> None:
    busy = (
        "import time\nend = time.process_time() + 0.3\n"
        "while time.process_time() < end: pass\nprint('spent', flush=True)\ntime.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", busy], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"spent\n"
        found = bench.cpu_by_process(os.getpid())
        assert child.pid in found
        label, seconds = found[child.pid]
        assert label == "other"
        assert seconds >= 0.25
    finally:
        child.kill()
        child.wait()


def test_the_report_shows_cpu_per_request_and_explains_errors(bench: ModuleType) -> None:
    report = json.loads(RESULT.read_text())
    orders = next(s for s in report["scenarios"] if s["name"] == "order_spread")
    orders["runs"][-1]["failures"] = {"409 insufficient-stock": 6}

    table = bench.markdown(report)

    lines = table.splitlines()
    header = "| scenario | conns | gateway | auth | products | orders | postgres | redis | other |"
    cpu_table = lines[next(n for n, line in enumerate(lines) if line.startswith(header)) :]
    cpu_row = next(line for line in cpu_table if line.startswith("| place order, 4612"))
    cells = [cell.strip() for cell in cpu_row.strip("|").split("|")]
    assert cells[1] == "32"
    figures = [float(cell) for cell in cells[2:]]
    assert figures[-1] == pytest.approx(sum(figures[:-1]), abs=0.02)  # the total adds up
    assert "Errors by status and problem type (order scenarios):" in table
    assert "32 connections: 6 x 409 insufficient-stock" in table


def test_search_and_listing_draw_from_a_thousand_distinct_requests() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        search = importlib.import_module("bench.search")
    finally:
        sys.path.remove(str(ROOT))
    for paths in (search.search_paths(10_000), search.listing_paths(10_000)):
        assert len(set(paths)) >= 1_000
        assert all(path.startswith("?") for path in paths)
