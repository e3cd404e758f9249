"""Log lines written in batches: one write for many lines, none waiting long.

Written one at a time, every line is a system call (stderr is line-buffered),
and a busy process writes one per request: the access line was a fifth of the
gateway's CPU per proxied read (bench/README.md, "The gateway hop"). Here lines
gather and go out together when the first of them has waited ``seconds``, when
``BATCH_CHARS`` have gathered, or at once with everything before them when one
is a warning or worse, in order. Logging's own shutdown (at exit, also after
SIGTERM or an unhandled exception) writes what is left; a process killed outright
(SIGKILL, the kernel's OOM killer) loses at most ``seconds`` of lines, as Go's zap
``BufferedWriteSyncer`` or nginx's ``access_log ... buffer= flush=`` would.
"""

from __future__ import annotations

import logging
import threading
from typing import TextIO

__all__ = ["BATCH_CHARS", "BatchedStreamHandler"]

# Past this many characters waiting, they go out without waiting for the timer.
BATCH_CHARS = 64 * 1024


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    """A :class:`logging.StreamHandler` writing its lines in batches (see above)."""

    def __init__(self, stream: TextIO, *, seconds: float) -> None:
        super().__init__(stream)
        self.seconds = seconds
        self._pending: list[str] = []
        self._chars = 0
        # Started when a line waits, stopped when the lines go: no thread while idle.
        self._timer: threading.Timer | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Called by handle(), which holds the handler's lock.
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        self._chars += len(line)
        if record.levelno >= logging.WARNING or self._chars >= BATCH_CHARS:
            self._write_pending()
        elif self._timer is None:
            self._timer = threading.Timer(self.seconds, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()

    def _write_pending(self) -> None:
        if self._timer is not None:
            self._timer.cancel()  # (a no-op when it is the timer's own call)
            self._timer = None
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._chars = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:
            # As StreamHandler does for a line it could not write (stderr closed):
            # reported on stderr if it can be, never raised into the caller.
            self.handleError(logging.makeLogRecord({"msg": "log lines not written"}))
