"""Progress of the long commands (``shop seed-demo``, ``shop up --demo``).

On a terminal, a bar with the counts, the rate and the time left (rich). Otherwise
(a log file, CI, a pipe), one log line every ``LOG_EVERY_SECONDS`` and one at the
end, with the counts and the rate: a bar's redraws would fill the log with noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

log = structlog.get_logger("shop.cli.progress")

LOG_EVERY_SECONDS = 5.0

Advance = Callable[[int], None]  # called with how many more items are done


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


@contextmanager
def progress(description: str, total: int, *, console: Console | None = None) -> Iterator[Advance]:
    """Yields the function that counts items done, out of ``total``; shows them on
    ``console`` (standard error by default) as a bar on a terminal, as log lines
    otherwise."""
    console = console or Console(stderr=True)
    if total <= 0:
        yield lambda _: None
    elif console.is_terminal:
        with _bar(description, total, console) as advance:
            yield advance
    else:
        with _log_lines(description, total) as advance:
            yield advance


@contextmanager
def _bar(description: str, total: int, console: Console) -> Iterator[Advance]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)


@contextmanager
def _log_lines(description: str, total: int) -> Iterator[Advance]:
    started = last = time.monotonic()
    done = 0

    def line(now: float) -> None:
        seconds = max(now - started, 1e-6)
        log.info(
            "progress",
            task=description,
            done=done,
            total=total,
            per_second=round(done / seconds, 1),
            seconds=round(seconds, 1),
        )

    def advance(count: int) -> None:
        nonlocal done, last
        done += count
        now = time.monotonic()
        if now - last >= LOG_EVERY_SECONDS and done < total:
            last = now
            line(now)

    yield advance
    line(time.monotonic())
