"""Sets of catalog positions as Python integers: a bit per product.

An ``int`` does set operations on 100,000 bits in about a microsecond and counts
them (``int.bit_count``) in a few (bench/search_index_probe.py). A rare word's set
is kept as its positions instead (a full-width integer costs 12 KB whatever it
holds); :class:`Postings` turns it into an integer when a search needs it.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator

__all__ = ["Postings", "bitmap", "count_add", "count_equal", "highest", "positions"]

# Below one product in this many, a set is kept as positions: 4 bytes each.
_SPARSE_RATIO = 128


def bitmap(found: Iterable[int]) -> int:
    """The set of positions ``found`` as an integer, in one pass."""
    ordered = sorted(found)
    if not ordered:
        return 0
    raw = bytearray(ordered[-1] // 8 + 1)
    for position in ordered:
        raw[position >> 3] |= 1 << (position & 7)
    return int.from_bytes(raw, "little")


# Runs of bytes with a bit set: the empty ones between are skipped in C.
_SET_BYTES = re.compile(rb"[^\x00]+")


def positions(bits: int) -> Iterator[int]:
    """The positions of ``bits``, lowest first (for small sets: a pass per byte; for
    sparse ones, per byte that has one)."""
    raw = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    runs = (
        ((run.start(), run.group()) for run in _SET_BYTES.finditer(raw))
        if bits.bit_count() * 16 < len(raw)
        else [(0, raw)]
    )
    for start, run_bytes in runs:
        for index, byte in enumerate(run_bytes, start):
            while byte:
                low = byte & -byte
                yield index * 8 + low.bit_length() - 1
                byte ^= low


def highest(bits: int, count: int) -> list[int]:
    """Up to ``count`` positions of ``bits``, highest first."""
    found: list[int] = []
    while bits and len(found) < count:
        top = bits.bit_length() - 1
        found.append(top)
        bits ^= 1 << top
    return found


class Postings:
    """The products that have one word (or facet value): positions while few, an
    integer once many."""

    __slots__ = ("_bits", "_list")

    def __init__(self) -> None:
        self._list: array[int] | None = array("I")
        self._bits = 0

    def add(self, position: int, size: int) -> None:
        """Adds ``position`` (``size``: how many positions the catalog has)."""
        if self._list is None:
            self._bits |= 1 << position
            return
        self._list.append(position)
        if len(self._list) * _SPARSE_RATIO > size:
            self._bits = bitmap(self._list)
            self._list = None

    def discard(self, position: int) -> None:
        if self._list is None:
            self._bits &= ~(1 << position)
        elif position in self._list:
            self._list.remove(position)

    def bits(self) -> int:
        return bitmap(self._list) if self._list is not None else self._bits

    def __len__(self) -> int:
        return len(self._list) if self._list is not None else self._bits.bit_count()


def count_add(planes: list[int], bits: int) -> list[int]:
    """Bit-sliced counters: adds one to every product of ``bits``."""
    out, carry = [], bits
    for plane in planes:
        out.append(plane ^ carry)
        carry &= plane
    if carry:
        out.append(carry)
    return out


def count_equal(planes: list[int], k: int, among: int) -> int:
    """The products of ``among`` whose counter is ``k``."""
    if k >> len(planes):
        return 0
    found = among
    for i, plane in enumerate(planes):
        found &= plane if (k >> i) & 1 else ~plane
    return found
