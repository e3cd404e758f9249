"""CPU time per request, by process of the system, from /proc."""

from __future__ import annotations

import os
from pathlib import Path

# --- CPU per request ------------------------------------------------------------------

# Requests/s moves with whatever else the shared machine runs; the CPU time each process
# spends per request does not, so that is what tells a change's worth apart from noise.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process; None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the name, in parentheses, may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _component(pid: int) -> str:
    """What a process of the system is: a service's name, postgres, redis or other."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    words = [part.decode(errors="replace") for part in argv if part]
    if "serve" in words and words.index("serve") + 1 < len(words):
        return words[words.index("serve") + 1]
    first = Path(words[0]).name if words else ""
    if first.startswith("postgres") or (words and "postgres:" in words[0]):
        return "postgres"
    if "redis" in first:
        return "redis"
    return "other"


def cpu_by_process(root: int) -> dict[int, tuple[str, float]]:
    """The live processes under ``root``: pid -> (component, CPU seconds used so far)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, tuple[str, float]] = {}
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        found[pid] = (_component(pid), stats[pid][1])
    return found


def cpu_per_request(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request by component, between two samples: per process,
    so that one that ended meanwhile (a PostgreSQL backend whose pooled connection was
    replaced) takes its earlier total with it instead of making the sum negative. What a
    process spent in the run before it ended is not seen."""
    if not requests:
        return {}
    spent: dict[str, float] = {}
    for pid, (label, seconds) in after.items():
        earlier = before.get(pid, (label, 0.0))[1]
        spent[label] = spent.get(label, 0.0) + (seconds - earlier) * 1000 / requests
    return {label: round(ms, 3) for label, ms in sorted(spent.items()) if ms > 0}
