"""A CPU hog for ``make test-stress`` where stress-ng is not installed: one process
spinning per core (``python -m tests.stress.hog [PROCESSES]``, every core by default)
until it is stopped. Each spinner exits on its own once the hog is gone."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys


def spin(parent: int) -> None:
    while os.getppid() == parent:  # the hog is gone: stop, even after a SIGKILL
        for _ in range(1_000_000):
            pass


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else os.cpu_count() or 1
    spinners = [
        multiprocessing.Process(target=spin, args=(os.getpid(),), daemon=True) for _ in range(count)
    ]
    for spinner in spinners:
        spinner.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # daemons are ended on exit
    for spinner in spinners:
        spinner.join()


if __name__ == "__main__":
    main()
