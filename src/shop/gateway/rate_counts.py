"""What this process knows of each rate-limit key, and the hits it has not yet sent.

A request far from its budget need not wait for Redis. The first request of a
key's window in this process is counted in Redis (it learns the count so far and
when the window ends); after that, while the key's count, as Redis last gave it
plus this process's hits since, stays within the first half of the budget, a hit
is counted here, and the hits gathered are added in Redis, all keys in one
pipelined round trip, every ``RATE_LIMIT_SYNC_SECONDS``. Past half of its budget,
every hit of the key is counted in Redis again (with the ones not yet sent), so a
client close to its limit is judged on the shared count. Budgets under
:data:`LOCAL_MIN_BUDGET` per window (the auth routes' by default) are always
counted hit by hit: they guard passwords, and half of them is too few hits to save
anything.

What it costs: a client spread over several gateway processes may get up to what
the other processes counted and have not yet sent (each at most half the budget,
and at most one sync interval of its hits) beyond its budget; and
RateLimit-Remaining, while a key is counted here, does not know of the other
processes' unsent hits. Kong's rate limiting (``sync_rate``) makes the same trade,
without the switch back to exact counting near the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOCAL_MIN_BUDGET", "KeyCounts", "Unsent"]

LOCAL_MIN_BUDGET = 100


@dataclass(slots=True)
class _Key:
    window_end: float  # epoch seconds
    expiry: int  # the window's length, for the key's first hit in Redis
    seen: int = 0  # the count in Redis, as its latest answer gave it
    unsent: int = 0  # hits counted here since, not yet added in Redis


@dataclass(frozen=True, slots=True)
class Unsent:
    """Hits of ``key`` counted here, to be added in Redis."""

    key: str
    hits: int
    expiry: int


class KeyCounts:
    """Per key: when its current window ends, its count as Redis last gave it, and the
    hits counted here since; at most ``capacity`` keys, the ended windows dropped first."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._keys: dict[str, _Key] = {}
        # The keys with hits counted here since the last drain: a drain visits only
        # them, not every key of the last minute.
        self._unsent: set[str] = set()

    def window_end(self, key: str, now: float) -> float | None:
        """When the key's current window ends, if this process knows."""
        state = self._keys.get(key)
        return state.window_end if state is not None and state.window_end > now else None

    def hit_here(self, key: str, budget: int, now: float) -> tuple[int, float] | None:
        """Counts a hit of ``key`` here and gives its estimated count and window end,
        when the estimate stays within the first half of ``budget``; ``None`` when the
        hit must be counted in Redis."""
        if budget < LOCAL_MIN_BUDGET:
            return None
        state = self._keys.get(key)
        if state is None or state.window_end <= now:
            return None
        estimate = state.seen + state.unsent + 1
        if estimate > budget // 2:
            return None
        state.unsent += 1
        self._unsent.add(key)
        return estimate, state.window_end

    def take_unsent(self, key: str, now: float) -> int:
        """The key's hits not yet sent, which the caller now adds in Redis itself (none
        when its window is over: they belong to that one)."""
        state = self._keys.get(key)
        if state is None:
            return 0
        hits, state.unsent = state.unsent, 0
        return hits if state.window_end > now else 0

    def counted(self, key: str, count: int, window_end: float, expiry: int, now: float) -> None:
        """Redis answered ``count`` for ``key``, whose window ends at ``window_end``."""
        state = self._keys.get(key)
        if state is None or state.window_end != window_end:
            if state is None and len(self._keys) >= self.capacity:
                self._make_room(now)
            self._keys[key] = _Key(window_end, expiry, seen=count)
        else:
            # A sync's answer may come after a later hit's: counts only grow.
            state.seen = max(state.seen, count)

    def drain(self, now: float) -> list[Unsent]:
        """The hits not yet sent, of windows still open, each key's set back to none
        (those of a window that is over are dropped: they belong to it)."""
        batch = []
        for key in self._unsent:
            state = self._keys.get(key)
            if state is not None:
                if state.unsent and state.window_end > now:
                    batch.append(Unsent(key, state.unsent, state.expiry))
                state.unsent = 0
        self._unsent.clear()
        return batch

    def synced(self, sent: Unsent, count: int) -> None:
        """Redis answered ``count`` for hits sent by :meth:`drain`."""
        state = self._keys.get(sent.key)
        if state is not None:
            state.seen = max(state.seen, count)

    def _make_room(self, now: float) -> None:
        self._keys = {k: v for k, v in self._keys.items() if v.window_end > now}
        if len(self._keys) >= self.capacity:  # all live: forget the oldest half
            self._keys = dict(list(self._keys.items())[self.capacity // 2 :])
