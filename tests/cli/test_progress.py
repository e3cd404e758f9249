"""The progress of long commands: a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from structlog.testing import capture_logs

from shop.cli import progress as progress_module
from shop.cli.progress import progress


def test_a_terminal_gets_a_bar_with_the_counts_and_the_rate() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    with capture_logs() as logs, progress("demo products", 30, console=console) as advance:
        for _ in range(3):
            advance(10)
    drawn = screen.getvalue()
    assert "demo products" in drawn
    assert "30/30" in drawn
    assert "/s" in drawn  # the rate
    assert logs == []  # the bar, not log lines


def test_elsewhere_log_lines_say_the_counts_and_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_module, "LOG_EVERY_SECONDS", 0.0)  # a line per step
    pipe = Console(file=io.StringIO(), force_terminal=False)
    with capture_logs() as logs, progress("demo pictures", 3, console=pipe) as advance:
        for _ in range(3):
            advance(1)
    lines = [line for line in logs if line["event"] == "progress"]
    # One after each step but the last, and the closing one.
    assert [(line["done"], line["total"]) for line in lines] == [(1, 3), (2, 3), (3, 3)]
    assert all(line["task"] == "demo pictures" for line in lines)
    assert lines[-1]["per_second"] > 0
    assert pipe.file.getvalue() == ""  # type: ignore[attr-defined]


def test_by_default_a_line_only_every_few_seconds_and_at_the_end() -> None:
    pipe = Console(file=io.StringIO(), force_terminal=False)
    with capture_logs() as logs, progress("demo products", 1000, console=pipe) as advance:
        for _ in range(100):
            advance(10)  # well within LOG_EVERY_SECONDS on any machine
    assert [line["done"] for line in logs if line["event"] == "progress"] == [1000]


def test_nothing_to_do_shows_nothing() -> None:
    screen = io.StringIO()
    with capture_logs() as logs, progress("demo pictures", 0, console=Console(file=screen)):
        pass
    assert logs == []
    assert screen.getvalue() == ""


def test_a_failure_leaves_no_closing_line() -> None:
    pipe = Console(file=io.StringIO(), force_terminal=False)

    def seed_until_the_database_goes_away() -> None:
        with progress("demo products", 10, console=pipe) as advance:
            advance(5)
            raise RuntimeError("the database went away")

    with capture_logs() as logs, pytest.raises(RuntimeError):
        seed_until_the_database_goes_away()
    assert [line for line in logs if line["event"] == "progress"] == []
