"""Setting response headers on an ASGI message's raw pairs, in one pass.

Starlette's ``MutableHeaders`` scans the whole list for every header set; the
gateway sets a dozen on every answer (its own, the security headers, the rate
limit's), so it replaces them all at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["replaced"]

RawHeaders = Sequence[tuple[bytes, bytes]]


def replaced(raw: Iterable[tuple[bytes, bytes]], pairs: RawHeaders) -> list[tuple[bytes, bytes]]:
    """``raw`` without any header ``pairs`` names (in any case), then ``pairs``: what
    setting each of them would give. ``pairs``' names must be lower case."""
    names = {name for name, _ in pairs}
    return [(name, value) for name, value in raw if name.lower() not in names] + list(pairs)
