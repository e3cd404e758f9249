"""Which service answers which path, and the instances of each service."""

from __future__ import annotations

import itertools
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
    """One service and its instances, picked round robin."""

    name: str
    urls: list[str]
    _turn: Iterator[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._turn = itertools.count()

    def instances(self) -> list[str]:
        """All instances, starting with the one whose turn it is."""
        start = next(self._turn) % len(self.urls)
        return self.urls[start:] + self.urls[:start]
