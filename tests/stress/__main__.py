"""``make test-stress``: the suite, as `make test` runs it (``-n auto``), while a CPU hog
keeps every core busy: stress-ng when it is installed, else ``tests.stress.hog``.
Lists every test that failed in each run, and how many runs passed.

    python -m tests.stress [--runs N] [PYTEST ARGS...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from shop.cli.processes import spawn


def hog_command(cores: int) -> list[str]:
    stress_ng = shutil.which("stress-ng")
    if stress_ng:
        return [stress_ng, "--cpu", str(cores), "--quiet"]
    return [sys.executable, "-m", "tests.stress.hog", str(cores)]


def failed_tests(report: Path) -> list[str]:
    """The tests the JUnit report lists as failed or errored (setup and teardown too)."""
    if not report.exists():
        return []
    failed = []
    root = ElementTree.parse(report).getroot()  # noqa: S314 (pytest wrote it, just now)
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname', '')}::{case.get('name', '')}")
    return failed


def one_run(number: int, cores: int, pytest_args: list[str]) -> list[str]:
    """Runs the suite beside the hog; the tests that failed (or why the run did)."""
    hog = spawn(hog_command(cores))
    with tempfile.TemporaryDirectory(prefix="shop-stress-") as directory:
        report = Path(directory) / "junit.xml"
        command = [
            sys.executable, "-m", "pytest", "-n", "auto", "--dist", "loadgroup",
            "-p", "no:cacheprovider", f"--junitxml={report}", *pytest_args,
        ]  # fmt: skip
        started = time.monotonic()
        try:
            code = subprocess.call(command)
        finally:
            os.killpg(hog.pid, signal.SIGTERM)  # the hog and its spinners
            hog.wait(30)
        minutes = (time.monotonic() - started) / 60
        failed = failed_tests(report)
        print(f"\nstress run {number}: pytest exit {code}, {minutes:.1f} min", flush=True)
        if code != 0 and not failed:
            failed = [f"(pytest exit {code} without a failed test: see its output)"]
        return failed


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stress", description=__doc__)
    parser.add_argument("--runs", type=int, default=1, help="runs in a row (default 1)")
    options, pytest_args = parser.parse_known_args()
    cores = os.cpu_count() or 1
    print(f"hog: {' '.join(hog_command(cores))} (every one of {cores} cores)", flush=True)
    results: list[list[str]] = []
    for number in range(1, options.runs + 1):
        results.append(one_run(number, cores, pytest_args))
    print("\n== make test-stress ==")
    for number, failed in enumerate(results, start=1):
        if failed:
            print(f"run {number}: {len(failed)} failed")
            for test in failed:
                print(f"  FAILED {test}")
        else:
            print(f"run {number}: passed")
    passed = sum(failed == [] for failed in results)
    print(f"{passed} of {len(results)} runs passed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
