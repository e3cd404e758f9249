"""shop up's stop flag: set by a signal handler while the main thread waits on it."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from shop.cli.supervisor import StopFlag


def test_a_signal_ends_the_wait_at_once() -> None:
    flag = StopFlag()

    def handler(_: int, __: FrameType | None) -> None:
        flag.set()  # on the main thread, in the middle of flag.wait()

    previous = signal.signal(signal.SIGUSR1, handler)
    main = threading.get_ident()
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGUSR1))
    try:
        timer.start()
        assert flag.wait(60) is True  # False only had no signal come in the minute
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert flag.is_set()


def test_without_a_signal_the_wait_times_out_unset() -> None:
    flag = StopFlag()
    assert flag.wait(0.1) is False
    assert not flag.is_set()
