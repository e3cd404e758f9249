"""A sort order of the in-process index (by price, by name): the live products by
``(key, id)``, and the first of a result set in that order without a test per product.

The entries are cut into blocks of neighbouring keys (block ``k`` holds the keys from
its bound up to the next block's), each block's positions kept as a bitmap. A page is
found a block at a time: one ``AND`` of the result set with the block, then only the
few products found sorted. With 1,024 products a block and results of a fortieth of
the catalog, a page of 20 takes a block or two; walking the order entry by entry took
hundreds of steps (docs/search.md, "The in-process index").

A block that grows past twice :data:`BLOCK` entries is split in two where it stands.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Callable
from typing import Any

from shop.products.search.mem_bitmaps import bitmap, positions

__all__ = ["BLOCK", "KeyOrder"]

BLOCK = 1_024

Key = tuple[Any, uuid.UUID]  # (price or name, id)
Entry = tuple[Any, uuid.UUID, int]  # (price or name, id, position)


class KeyOrder:
    """The entries ``(key, id, position)`` in order, in blocks of about ``block``."""

    def __init__(self, block: int = BLOCK) -> None:
        self.block = block
        self.entries: list[Entry] = []
        self._bounds: list[Key] = []  # each block's lowest (key, id); the first: any
        self._bits: list[int] = []  # each block's positions

    def add(self, entry: Entry) -> None:
        bisect.insort(self.entries, entry)
        if not self._bounds:
            self._bounds, self._bits = [entry[:2]], [0]
        k = self._block_of(entry[:2])
        self._bits[k] |= 1 << entry[2]
        start, end = self._slice(k)
        if end - start > 2 * self.block:
            self._split(k, start, end)

    def remove(self, entry: Entry) -> None:
        at = bisect.bisect_left(self.entries, entry)
        if at < len(self.entries) and self.entries[at] == entry:
            del self.entries[at]
            k = self._block_of(entry[:2])
            self._bits[k] &= ~(1 << entry[2])

    def add_many(self, entries: list[Entry]) -> None:
        """Many entries at once (the index's load): sorted once, the blocks made anew."""
        if not entries:
            return
        self.entries += entries
        self.entries.sort()
        self._bounds, self._bits = [], []
        for start in range(0, len(self.entries), self.block):
            chunk = self.entries[start : start + self.block]
            self._bounds.append(chunk[0][:2])
            self._bits.append(bitmap(position for _, _, position in chunk))

    def first(
        self,
        shown: int,
        wanted: int,
        key_at: Callable[[int], Key],
        *,
        after: Key | None = None,
        descending: bool = False,
    ) -> list[int]:
        """The positions of the first ``wanted`` of ``shown`` in this order (descending:
        from the highest key), after ``after`` if given."""
        if not self._bounds:
            return []
        last = len(self._bounds) - 1
        if descending:
            start = last if after is None else self._block_of(after)
            blocks = range(start, -1, -1)
        else:
            blocks = range(0 if after is None else self._block_of(after), last + 1)
        found: list[int] = []
        for k in blocks:
            hits = shown & self._bits[k]
            if not hits:
                continue
            keyed = sorted(((key_at(p), p) for p in positions(hits)), reverse=descending)
            if after is not None:
                keyed = [kp for kp in keyed if (kp[0] < after if descending else kp[0] > after)]
            found += [p for _, p in keyed[: wanted - len(found)]]
            if len(found) >= wanted:
                break
        return found

    def _block_of(self, key: Key) -> int:
        return max(bisect.bisect_right(self._bounds, key) - 1, 0)

    def _slice(self, k: int) -> tuple[int, int]:
        """Where block ``k``'s entries are in :attr:`entries`."""
        start = 0 if k == 0 else bisect.bisect_left(self.entries, self._bounds[k])
        if k + 1 == len(self._bounds):
            return start, len(self.entries)
        return start, bisect.bisect_left(self.entries, self._bounds[k + 1])

    def _split(self, k: int, start: int, end: int) -> None:
        middle = (start + end) // 2
        low = self.entries[start:middle]
        high = self.entries[middle:end]
        self._bounds.insert(k + 1, high[0][:2])
        self._bits[k : k + 1] = [
            bitmap(position for _, _, position in low),
            bitmap(position for _, _, position in high),
        ]
