"""Which service answers which path, and the instances of each service."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

# Public path prefixes and the service that owns them. A prefix matches the
# path itself and anything below it ("/api/v1/products" and "/api/v1/products/x").
ROUTES: dict[str, str] = {
    "/api/v1/auth": "auth",
    "/api/v1/categories": "products",
    "/api/v1/products": "products",
    "/api/v1/orders": "orders",
    # Images of the local storage backend (with S3 their URLs point at the bucket).
    "/media": "products",
}


@dataclass
class Upstream:
    """One service and its instances, picked round robin.

    An instance that could not be connected to is ejected for ``eject_seconds``:
    tried after all the others, so requests stop paying for its failures; once
    the cool-down is over it takes its turns again, and fails its way back out if
    it is still down (passive health checking).
    """

    name: str
    urls: list[str]
    eject_seconds: float = 10.0
    _turn: Iterator[int] = field(init=False, repr=False)
    _ejected_until: dict[str, float] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._turn = itertools.count()

    def instances(self) -> list[str]:
        """All instances, starting with the one whose turn it is; ejected ones last (the
        others share their turns)."""
        turn = next(self._turn)
        ejected = set(self.ejected())
        healthy = [url for url in self.urls if url not in ejected]
        cooling = [url for url in self.urls if url in ejected]
        return _rotated(healthy, turn) + _rotated(cooling, turn)

    def ejected(self) -> list[str]:
        """The instances cooling down."""
        now = time.monotonic()
        return [url for url, until in self._ejected_until.items() if until > now]

    def eject(self, url: str) -> None:
        self._ejected_until[url] = time.monotonic() + self.eject_seconds

    def restore(self, url: str) -> None:
        self._ejected_until.pop(url, None)


def _rotated(urls: list[str], turn: int) -> list[str]:
    if not urls:
        return urls
    start = turn % len(urls)
    return urls[start:] + urls[:start]
