"""Which instance of a service to call next, and taking failing ones out of turn.

A caller with several base URLs for one service keeps one :class:`Instances`
for them (the gateway has one per upstream service, in
``shop.gateway.upstreams``; the orders service one for products, in
``shop.orders.products_client``). For each request it:

1. asks :meth:`Instances.order` for every URL, in the order to try them, and
   goes down that list until one answers;
2. may hold a :class:`Lease` (:meth:`Instances.lease`) on the one it sends to
   while the request is in progress: that is what "outstanding" counts;
3. says how it went: :meth:`~Instances.eject` (the connection was refused:
   surely down), :meth:`~Instances.request_failed` (an error after sending:
   ejected after a run of them) or :meth:`~Instances.restore` (it answered).

A background prober may also report :meth:`~Instances.check_failed` and
:meth:`~Instances.check_passed` (active health checks; the gateway does).

**The order.** Available instances first: the fewest outstanding requests
first, equals in turn (round robin: each call starts one further along).
A caller that takes no leases therefore gets plain round robin. Then the
ejected ones, never dropped (if every instance is ejected, all are still
tried), the soonest back first: a passive ejection ends at a known time,
while an instance ejected by its health checks is back only once a check
passes, so it comes after those; equals in turn.

**Ejection.** An instance is ejected (takes no turns, tried only after the
others)

- *passively*, for ``eject_seconds``: at once on :meth:`~Instances.eject`, or
  after ``eject_after_errors`` calls of :meth:`~Instances.request_failed` in a
  row; :meth:`~Instances.restore` ends it, as does a passing health check
  after a failed one (it was down and is back: restarted);
- *actively*, after ``unhealthy_after`` failed health checks in a row, until
  one passes.

Times are ``time.monotonic()``. Nothing here awaits, so the tasks of one event
loop may share an instance of it; it is not meant for threads.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class _Instance:
    """What is known of one instance."""

    url: str
    outstanding: int = 0  # leases held on it
    ejected_until: float = 0.0  # the end of a passive ejection (0: none)
    failed_requests: int = 0  # request_failed() in a row
    failed_checks: int = 0  # check_failed() in a row


class Lease:
    """One request's claim on an instance: counted as outstanding until released."""

    def __init__(self, instance: _Instance) -> None:
        self._instance = instance
        self._released = False
        instance.outstanding += 1

    def release(self) -> None:
        """Idempotent: a response can end in more than one way."""
        if not self._released:
            self._released = True
            self._instance.outstanding -= 1


class Instances:
    """The instances of one service, in the order to try them (see the module's doc)."""

    def __init__(
        self,
        urls: Iterable[str],
        *,
        eject_seconds: float = 10.0,
        eject_after_errors: int = 3,
        unhealthy_after: int = 2,
    ) -> None:
        self.eject_seconds = eject_seconds
        self.eject_after_errors = eject_after_errors
        self.unhealthy_after = unhealthy_after
        self._turn = itertools.count()
        self._instances: dict[str, _Instance] = {}
        self.urls = urls

    @property
    def urls(self) -> list[str]:
        """The base URLs: without a trailing "/", each once, in the order given."""
        return list(self._instances)

    @urls.setter
    def urls(self, urls: Iterable[str]) -> None:
        # Instances still listed keep what is known of them.
        unique = list(dict.fromkeys(url.rstrip("/") for url in urls))
        if not unique:
            raise ValueError("at least one instance URL is required")
        self._instances = {url: self._instances.get(url) or _Instance(url) for url in unique}

    def order(self) -> list[str]:
        """Every URL, in the order to try them; each call is the next turn."""
        turn = next(self._turn)
        now = time.monotonic()
        available: list[_Instance] = []
        ejected: list[_Instance] = []
        for instance in self._instances.values():
            (available if self._available(instance, now) else ejected).append(instance)
        # sorted() is stable: among equals, the rotation (the turn) decides.
        by_load = sorted(_rotated(available, turn), key=lambda i: i.outstanding)
        by_return = sorted(_rotated(ejected, turn), key=self._back_at)
        return [instance.url for instance in by_load + by_return]

    def lease(self, url: str) -> Lease:
        """Counts a request as outstanding on ``url`` until the lease is released."""
        return Lease(self._instances[url])

    def outstanding(self, url: str) -> int:
        return self._instances[url].outstanding

    def is_available(self, url: str) -> bool:
        """True while it takes its turns (not ejected)."""
        return self._available(self._instances[url], time.monotonic())

    def ejected(self) -> list[str]:
        """The URLs that take no turns now."""
        now = time.monotonic()
        return [i.url for i in self._instances.values() if not self._available(i, now)]

    def eject(self, url: str) -> bool:
        """Passive ejection, for ``eject_seconds`` from now; True if it was available
        until now (it has just left the turns)."""
        instance = self._instances[url]
        now = time.monotonic()
        was_available = self._available(instance, now)
        instance.ejected_until = now + self.eject_seconds
        return was_available

    def restore(self, url: str) -> None:
        """It answered: ends a passive ejection and its run of errors."""
        instance = self._instances[url]
        instance.ejected_until = 0.0
        instance.failed_requests = 0

    def request_failed(self, url: str) -> bool:
        """An error after the request was sent; True if that ejected it."""
        instance = self._instances[url]
        instance.failed_requests += 1
        if instance.failed_requests < self.eject_after_errors:
            return False
        instance.failed_requests = 0
        self.eject(url)
        return True

    def check_failed(self, url: str) -> bool:
        """A failed health check; True if that made the instance unhealthy (once)."""
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

    def _available(self, instance: _Instance, now: float) -> bool:
        return instance.ejected_until <= now and instance.failed_checks < self.unhealthy_after

    def _back_at(self, instance: _Instance) -> float:
        """When an ejected instance takes turns again, as far as is known."""
        if instance.failed_checks >= self.unhealthy_after:
            return math.inf  # once a check passes
        return instance.ejected_until


def _rotated(items: list[_Instance], turn: int) -> list[_Instance]:
    if not items:
        return items
    start = turn % len(items)
    return items[start:] + items[:start]
