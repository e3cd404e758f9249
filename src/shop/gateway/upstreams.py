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
class Instance:
    """What the gateway knows of one instance of a service."""

    url: str
    outstanding: int = 0  # requests sent to it whose answer is not fully relayed yet
    ejected_until: float = 0.0  # passive ejection: a monotonic time
    failed_checks: int = 0  # health checks failed in a row
    failed_requests: int = 0  # transport errors in a row on real traffic


class Lease:
    """One request's claim on an instance: counted as outstanding until released."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._released = False
        instance.outstanding += 1

    def release(self) -> None:
        """Idempotent: a response can end in more than one way."""
        if not self._released:
            self._released = True
            self._instance.outstanding -= 1


@dataclass
class Upstream:
    """One service and its instances.

    Each request goes to the available instance with the fewest outstanding
    requests, ties broken round robin. An instance is unavailable while it is
    ejected, either

    - passively, for ``eject_seconds``: at once when it refuses a connection, or
      after ``eject_after_errors`` transport errors in a row on real traffic; a
      health check that passes after one that failed (it was down and is back)
      ends the cool-down early; or
    - actively, after ``unhealthy_after`` failed health checks in a row, until a
      check passes again.

    Unavailable instances are not dropped, only tried after all the others: if
    every instance is ejected, requests still try them all.
    """

    name: str
    urls: list[str]
    eject_seconds: float = 10.0
    unhealthy_after: int = 2
    eject_after_errors: int = 3
    _turn: Iterator[int] = field(init=False, repr=False)
    _instances: dict[str, Instance] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.urls = list(dict.fromkeys(self.urls))  # one listed twice is still one
        self._turn = itertools.count()
        self._instances = {url: Instance(url) for url in self.urls}

    def instances(self) -> list[str]:
        """All instances, in the order to try them: the available ones by fewest
        outstanding requests (ties in turn), then the ejected ones."""
        turn = next(self._turn)
        now = time.monotonic()
        available = [i for i in self._instances.values() if self._available(i, now)]
        ejected = [i for i in self._instances.values() if not self._available(i, now)]
        # sorted() is stable, so among equals the rotation (the turn) decides.
        by_load = sorted(_rotated(available, turn), key=lambda i: i.outstanding)
        return [i.url for i in by_load + _rotated(ejected, turn)]

    def lease(self, url: str) -> Lease:
        return Lease(self._instances[url])

    def ejected(self) -> list[str]:
        """The instances that take no turns now."""
        now = time.monotonic()
        return [i.url for i in self._instances.values() if not self._available(i, now)]

    def is_available(self, url: str) -> bool:
        return self._available(self._instances[url], time.monotonic())

    def outstanding(self, url: str) -> int:
        return self._instances[url].outstanding

    def eject(self, url: str) -> None:
        """Passive ejection, for ``eject_seconds``."""
        self._instances[url].ejected_until = time.monotonic() + self.eject_seconds

    def restore(self, url: str) -> None:
        """It answered: ends a passive ejection and its run of errors."""
        instance = self._instances[url]
        instance.ejected_until = 0.0
        instance.failed_requests = 0

    def request_failed(self, url: str) -> bool:
        """A transport error after the request was sent; True if that ejected it."""
        instance = self._instances[url]
        instance.failed_requests += 1
        if instance.failed_requests < self.eject_after_errors:
            return False
        instance.failed_requests = 0
        self.eject(url)
        return True

    def check_failed(self, url: str) -> bool:
        """A failed health check; True if that made the instance unhealthy."""
        instance = self._instances[url]
        instance.failed_checks += 1
        return instance.failed_checks == self.unhealthy_after

    def check_passed(self, url: str) -> bool:
        """A passed health check; True if the instance was ejected and no longer is."""
        instance = self._instances[url]
        now = time.monotonic()
        was_available = self._available(instance, now)
        if instance.failed_checks:
            # Seen down, now up (restarted): no reason to wait out a cool-down. One
            # that only fails real traffic while passing checks waits it out.
            self.restore(url)
        instance.failed_checks = 0
        return not was_available and self._available(instance, now)

    def _available(self, instance: Instance, now: float) -> bool:
        return instance.ejected_until <= now and instance.failed_checks < self.unhealthy_after


def _rotated(items: list[Instance], turn: int) -> list[Instance]:
    if not items:
        return items
    start = turn % len(items)
    return items[start:] + items[:start]
