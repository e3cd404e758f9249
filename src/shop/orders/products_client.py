"""Calls to the products service's internal reservation API.

Every call is idempotent (keyed by the order's id), so every call may be
retried: up to ``products_retry_attempts`` attempts with exponential backoff
and jitter (tenacity), all of them within ``products_deadline_seconds``. Only
failures are retried: no connection, a timeout, a 5xx. An answer about the
reservation (409, 422, 404) is final.

Instances (``PRODUCTS_URLS``, or the one ``PRODUCTS_URL``): calls take turns
over them. An instance that refuses the connection (or does not accept it in
time) is skipped for the next one within the same attempt, at once: nothing
was sent. An instance whose attempt failed after the request was sent (a
timeout, a reset, a 5xx) fails the attempt, and the retry goes to another
instance: the call is idempotent, so sending it twice is safe. Either way the
instance is *ejected*, tried after the others, for ``products_eject_seconds``
(never dropped: if all are ejected, all are still tried, the soonest back
first).

A circuit breaker (circuitbreaker) is about the products *service*, not one
instance: it counts failed attempts, an attempt failing only when no instance
gave an answer (all refused, or the one tried failed after the send). After
``products_breaker_failures`` in a row it opens, and calls fail at once for
``products_breaker_recovery_seconds``; then one call is let through to probe.
A dead instance beside a live one therefore never opens it (its refusals are
failed over within the attempt), and per-instance trouble is the ejection's
business; the breaker answers the placement's question "is products usable
at all?", which decides whether a pending order is worth recording.

The caller's request ID is forwarded by the kit's HTTP client; the orders
service proves itself with the shared ``X-Service-Token``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import structlog
from circuitbreaker import CircuitBreaker  # type: ignore[import-untyped]
from pydantic import SecretStr, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from shop.kit.contracts.reservations import (
    PREFIX,
    ReservationOut,
    ReservationProblem,
    ReservationRefusal,
    ReserveIn,
    ReserveLineIn,
)
from shop.kit.contracts.sellable import SellableRef
from shop.kit.contracts.sellables import PATH as SELLABLES_PATH
from shop.kit.contracts.sellables import SellableRefIn, SellablesIn, SellablesOut
from shop.kit.instances import Instances
from shop.kit.service_auth import service_headers

log = structlog.get_logger("shop.orders.products")


class ProductsUnavailableError(Exception):
    """No usable answer in time: unreachable, timed out, 5xx, misconfigured, breaker open."""


class BreakerOpenError(ProductsUnavailableError):
    """The circuit breaker is open: the call was not even tried."""


class ProductsRefusedError(Exception):
    """A final answer about the reservation (4xx): its problem, as the contract has it."""

    def __init__(self, status: int, problem: ReservationProblem) -> None:
        self.status = status
        self.problem = problem
        self.type_slug = problem.slug
        # None for a problem type the contract does not list.
        self.refusal: ReservationRefusal | None = problem.refusal
        super().__init__(f"HTTP {status} {self.type_slug}")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.problem.errors


class _FailedAttemptError(Exception):
    """One attempt failed in a way worth retrying; the breaker counts these."""


class ProductsClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        token: SecretStr | None,
        *,
        urls: Sequence[str],
        eject_seconds: float = 10.0,
        attempts: int = 3,
        deadline: float = 5.0,
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
        breaker_failures: int = 5,
        breaker_recovery: float = 10.0,
    ) -> None:
        self.http = http
        self.token = token
        self.instances = Instances(urls, eject_seconds=eject_seconds)
        self.attempts = attempts
        self.deadline = deadline
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.breaker = CircuitBreaker(
            failure_threshold=breaker_failures,
            recovery_timeout=breaker_recovery,
            expected_exception=_FailedAttemptError,
            name="products",
        )

    @property
    def breaker_open(self) -> bool:
        return bool(self.breaker.opened)

    async def reserve(
        self,
        order_id: uuid.UUID,
        items: Sequence[ReserveLineIn | tuple[uuid.UUID, int]],
        *,
        commit: bool = False,
        hold_seconds: int | None = None,
    ) -> ReservationOut:
        """Holds the items (lines, or ``(product_id, quantity)`` pairs for single-variant
        products) for the order; with ``commit``, takes them off the shelf at once (the
        answer is then ``committed``); else for ``hold_seconds`` if given (products'
        default otherwise)."""
        lines = [
            item
            if isinstance(item, ReserveLineIn)
            else ReserveLineIn(product_id=item[0], quantity=item[1])
            for item in items
        ]
        body = ReserveIn(lines=lines, commit=commit, hold_seconds=hold_seconds)
        # "commit" and "hold_seconds" only when asked: the body is the one it always was.
        return await self._call(
            "PUT", f"{PREFIX}/{order_id}", body.model_dump(mode="json", exclude_defaults=True)
        )

    async def commit(self, order_id: uuid.UUID) -> ReservationOut:
        return await self._call("POST", f"{PREFIX}/{order_id}/commit")

    async def restock(self, order_id: uuid.UUID) -> ReservationOut:
        """Gives back everything the order holds or took; unknown orders get a tombstone."""
        return await self._call("POST", f"{PREFIX}/{order_id}/restock")

    async def sellables(self, refs: Sequence[SellableRef]) -> SellablesOut:
        """The current price, names and stock of each reference's unit, in one call (reads
        only, so retried like the others)."""
        body = SellablesIn(refs=[SellableRefIn.model_validate(ref.model_dump()) for ref in refs])
        response = await self._send("POST", SELLABLES_PATH, body.model_dump(mode="json"))
        if response.status_code in (401, 403):
            log.error("the products service refused our service token")
            raise ProductsUnavailableError("service authentication failed")
        try:
            return SellablesOut.model_validate(response.json())
        except ValueError as exc:  # not JSON, or not the contract's answer
            raise ProductsUnavailableError(
                f"unexpected answer (HTTP {response.status_code})"
            ) from exc

    async def _call(self, method: str, path: str, body: Any = None) -> ReservationOut:
        return self._outcome(await self._send(method, path, body))

    async def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """The first answer (not a 5xx) within the deadline, retried; else
        ProductsUnavailableError."""
        try:
            headers = service_headers(self.token)
        except ValueError as exc:
            raise ProductsUnavailableError("no SERVICE_TOKEN is configured") from exc
        give_up_at = time.monotonic() + self.deadline
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts) | stop_before_delay(self.deadline),
            wait=wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.2),
            retry=retry_if_exception_type(_FailedAttemptError),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._attempt(method, path, body, headers, give_up_at)
        except _FailedAttemptError as exc:
            log.warning("products call failed", method=method, path=path, reason=str(exc))
            raise ProductsUnavailableError(str(exc)) from exc
        return response

    async def _attempt(
        self, method: str, path: str, body: Any, headers: dict[str, str], give_up_at: float
    ) -> httpx.Response:
        if give_up_at - time.monotonic() <= 0:
            raise ProductsUnavailableError("no time left for another attempt")
        if self.breaker.opened:
            raise BreakerOpenError("the products service is failing: not calling it for now")
        with self.breaker:  # counts _FailedAttemptError; any answer closes it again
            refused: list[str] = []
            for url in self.instances.order():
                remaining = give_up_at - time.monotonic()
                if remaining <= 0:
                    break
                connect = min(self.connect_timeout, remaining)
                read = min(self.read_timeout, remaining)
                # Waiting for one of our own pool's connections says nothing about
                # products: it may take what is left of the deadline, and is not a failure.
                timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=remaining)
                try:
                    response = await self.http.request(
                        method, url + path, json=body, headers=headers, timeout=timeout
                    )
                except httpx.PoolTimeout as exc:
                    raise ProductsUnavailableError("no connection free in time") from exc
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    # Nothing was sent: another instance may have it at once.
                    reason = type(exc).__name__
                    self._eject(url, reason)
                    refused.append(f"{url}: {reason}")
                    continue
                except httpx.HTTPError as exc:
                    # Perhaps sent: retried (elsewhere) by tenacity, as every call may be.
                    self._eject(url, type(exc).__name__)
                    raise _FailedAttemptError(f"{url}: {type(exc).__name__}") from exc
                if response.status_code >= 500:
                    self._eject(url, f"HTTP {response.status_code}")
                    raise _FailedAttemptError(f"{url}: HTTP {response.status_code}")
                self.instances.restore(url)
                return response
            raise _FailedAttemptError("no instance took the call (" + "; ".join(refused) + ")")

    def _eject(self, url: str, reason: str) -> None:
        """Tried after the others for a while (round robin and soonest back first:
        :mod:`shop.kit.instances`); logged as it leaves the turns, if there are others."""
        if self.instances.eject(url) and len(self.instances.urls) > 1:
            log.warning("products instance ejected", url=url, reason=reason)

    def _outcome(self, response: httpx.Response) -> ReservationOut:
        try:
            payload = response.json()
        except ValueError as exc:
            raise ProductsUnavailableError("the answer is not JSON") from exc
        if response.status_code in (401, 403):
            log.error("the products service refused our service token")
            raise ProductsUnavailableError("service authentication failed")
        if response.is_success:
            try:
                return ReservationOut.model_validate(payload)
            except ValidationError as exc:
                raise ProductsUnavailableError("unexpected answer") from exc
        try:
            problem = ReservationProblem.model_validate(payload)
        except ValidationError as exc:
            raise ProductsUnavailableError(
                f"unexpected answer (HTTP {response.status_code})"
            ) from exc
        raise ProductsRefusedError(response.status_code, problem)
