"""The processes of a running `shop up`: which pid serves which service, and the CPU
time each has used."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CLOCK_TICKS", "children", "cpu_seconds", "served"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of all the process's threads: from schedstat (nanoseconds) where the
    kernel has it, else from stat (clock ticks: 10 ms, coarse for a short run)."""
    try:
        return sum(
            int((task / "schedstat").read_text().split()[0]) / 1e9
            for task in Path(f"/proc/{pid}/task").iterdir()
        )
    except (OSError, ValueError, IndexError):
        raw = Path(f"/proc/{pid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(root: int) -> list[int]:
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found.append(int(child))
                pending.append(int(child))
    return found


def served(root: int, service: str) -> int:
    """The pid of `shop serve SERVICE` under ``root``."""
    for pid in children(root):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [word.decode() for word in argv if word]
        if "serve" in words and words[words.index("serve") + 1 :][:1] == [service]:
            return pid
    raise RuntimeError(f"no `shop serve {service}` under {root}")
