"""What the orders service asks of a payment provider, whoever it is.

An adapter answers in these value types only; it raises
:class:`ProviderUnavailableError` when the provider gave no usable answer (unreachable,
timed out, 5xx, a rejected key), which the caller treats as "try again later", and
:class:`~shop.orders.payment_errors.InvalidSignatureError` for a webhook that does not
verify. Every call that changes something is idempotent at the provider (creating by
the order's id, refunding by the refund's id), so a retry after a crash is safe.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Protocol


class ProviderState(enum.StrEnum):
    """A payment at the provider, reduced to what the order needs to know."""

    AWAITING = "awaiting"  # may still be paid (no method yet, declined, processing, ...)
    SUCCEEDED = "succeeded"  # the money is received
    CANCELLED = "cancelled"  # can no longer be paid


class ProviderRefundState(enum.StrEnum):
    PENDING = "pending"  # accepted, not final yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as the provider has it. ``ref`` is None for a provider with no record of
    its own (manual); ``client_secret`` what a browser needs to pay it (Stripe.js);
    ``last_error`` the last decline, in words."""

    ref: str | None
    state: ProviderState
    client_secret: str | None = None
    amount_received: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    ref: str | None
    state: ProviderRefundState
    failure: str | None = None  # why it failed, in words


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook event: its id (each is acted on once), its type, and the
    payment it is about, if any. Nothing else of its body is trusted."""

    id: str
    type: str
    payment_ref: str | None


class ProviderUnavailableError(Exception):
    """No usable answer from the provider: nothing is known to have changed there."""


class PaymentProvider(Protocol):
    """A payment provider (docs/payments.md)."""

    @property
    def name(self) -> str: ...

    @property
    def online(self) -> bool:
        """True when the buyer pays at the provider before the order is confirmed (its
        stock held meanwhile); False when the order is confirmed first (manual)."""
        ...

    async def create(
        self, order_id: uuid.UUID, number: str, amount: int, currency: str, email: str
    ) -> ProviderPayment:
        """A payment of ``amount`` minor units for the order, keyed by its id (a repeat
        answers the same payment)."""
        ...

    async def read(self, ref: str) -> ProviderPayment: ...

    async def cancel(self, ref: str) -> ProviderPayment:
        """Makes the payment unpayable; a payment that succeeded meanwhile cannot be
        cancelled, and is answered as it is (``succeeded``)."""
        ...

    async def refund(self, ref: str | None, amount: int, key: uuid.UUID) -> ProviderRefund:
        """Gives ``amount`` back, once per ``key`` (the refund's id)."""
        ...

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """The event a webhook's raw body carries, once its signature is verified."""
        ...
