"""Log lines go out in batches, in order, none waiting past its time, none lost at exit."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time

from shop.kit.log_batches import BATCH_CHARS, BatchedStreamHandler


class Writes(io.StringIO):
    """A stream that remembers each write it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def logger_to(stream: Writes, seconds: float) -> tuple[logging.Logger, BatchedStreamHandler]:
    handler = BatchedStreamHandler(stream, seconds=seconds)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"batches-{id(stream)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    return logger, handler


def test_lines_wait_and_go_out_together_in_order() -> None:
    stream = Writes()
    logger, handler = logger_to(stream, seconds=0.2)
    for n in range(3):
        logger.info("line %d", n)
    assert stream.writes == []  # waiting for the first line's time
    deadline = time.monotonic() + 10
    while not stream.writes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stream.writes == ["INFO line 0\nINFO line 1\nINFO line 2\n"]
    # Nothing left waiting, so no timer either.
    assert handler._timer is None


def test_a_warning_goes_out_at_once_with_the_lines_before_it() -> None:
    stream = Writes()
    logger, handler = logger_to(stream, seconds=60)
    logger.info("before")
    logger.warning("trouble")
    assert stream.getvalue() == "INFO before\nWARNING trouble\n"
    assert len(stream.writes) == 1
    assert handler._timer is None


def test_a_full_batch_goes_out_without_waiting() -> None:
    stream = Writes()
    logger, _ = logger_to(stream, seconds=60)
    line = "x" * 1000
    for _ in range(BATCH_CHARS // 1000 + 1):
        logger.info(line)
    assert len(stream.writes) == 1
    assert stream.getvalue().count(line) == BATCH_CHARS // 1000 + 1


def test_flush_writes_what_waits() -> None:
    stream = Writes()
    logger, handler = logger_to(stream, seconds=60)
    logger.info("pending")
    handler.flush()
    assert stream.getvalue() == "INFO pending\n"
    assert handler._timer is None


def test_the_lines_still_waiting_at_exit_are_written() -> None:
    """A process that logs and ends at once (its lines would wait a minute) still
    writes them, and does not wait for the timer to end."""
    program = (
        "from shop.kit.logging import configure_logging\n"
        "import structlog\n"
        "configure_logging('probe', 'json', 'INFO', flush_seconds=60)\n"
        "for n in range(3):\n"
        "    structlog.get_logger('probe').info('leaving', n=n)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["event"], line["n"]) for line in lines] == [("leaving", n) for n in range(3)]
