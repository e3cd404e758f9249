"""The Stripe provider, on the official ``stripe`` package: one PaymentIntent per order.

A PaymentIntent is created with the order's total in minor units, automatic payment
methods, the order's id and number as metadata, and an idempotency key derived from
the order's id, so a retry (or a crashed attempt's repeat) answers the same intent.
Its ``client_secret`` lets the buyer's browser pay it with Stripe.js; the order learns
the outcome by reading the intent back (:meth:`read`), never from a webhook's body.

Calls use the package's async methods over its httpx client; the package retries
network failures and 5xx itself (``max_network_retries``, with the same idempotency
key). ``STRIPE_API_BASE`` points it at a stand-in (localstripe in the tests).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import stripe
import structlog

from shop.orders.payment_errors import InvalidSignatureError
from shop.orders.payment_providers.base import (
    ProviderPayment,
    ProviderRefund,
    ProviderRefundState,
    ProviderState,
    ProviderUnavailableError,
    WebhookEvent,
)

STRIPE = "stripe"
# Stripe's own recommendation: a signed event older than this is refused (replays).
WEBHOOK_TOLERANCE_SECONDS = 300

log = structlog.get_logger("shop.orders.payments.stripe")

_STATES = {"succeeded": ProviderState.SUCCEEDED, "canceled": ProviderState.CANCELLED}
_REFUND_STATES = {
    "succeeded": ProviderRefundState.SUCCEEDED,
    "failed": ProviderRefundState.FAILED,
    "canceled": ProviderRefundState.FAILED,
}


def _payment(intent: dict[str, Any]) -> ProviderPayment:
    """Every other status (requires_payment_method after a decline, requires_action,
    processing, ...) may still end paid: awaiting."""
    state = _STATES.get(str(intent.get("status")), ProviderState.AWAITING)
    error = intent.get("last_payment_error") or {}
    received = intent.get("amount_received")
    if received is None:  # not answered by every Stripe stand-in
        received = intent.get("amount", 0) if state is ProviderState.SUCCEEDED else 0
    return ProviderPayment(
        ref=str(intent["id"]),
        state=state,
        client_secret=intent.get("client_secret"),
        amount_received=int(received),
        last_error=(str(error.get("message") or error.get("code") or "")[:500] or None),
    )


def _unavailable(action: str, exc: stripe.StripeError) -> ProviderUnavailableError:
    log.warning(
        "stripe call failed",
        action=action,
        error=type(exc).__name__,
        status=exc.http_status,
        code=exc.code,
    )
    return ProviderUnavailableError(f"stripe {action}: {type(exc).__name__} {exc.http_status}")


class StripeProvider:
    name = STRIPE
    online = True

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        *,
        api_base: str = "https://api.stripe.com",
        timeout: float = 10.0,
        network_retries: int = 2,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            http_client=self._http,
            max_network_retries=network_retries,
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def create(
        self, order_id: uuid.UUID, number: str, amount: int, currency: str, email: str
    ) -> ProviderPayment:
        params: Any = {
            "amount": amount,
            "currency": currency.lower(),
            "automatic_payment_methods": {"enabled": True},
            "metadata": {"order_id": str(order_id), "order_number": number},
        }
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params, {"idempotency_key": f"order-{order_id}"}
            )
        except stripe.StripeError as exc:
            raise _unavailable("create", exc) from exc
        return _payment(intent.to_dict())

    async def read(self, ref: str) -> ProviderPayment:
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(ref)
        except stripe.StripeError as exc:
            raise _unavailable("read", exc) from exc
        return _payment(intent.to_dict())

    async def cancel(self, ref: str) -> ProviderPayment:
        try:
            intent = await self._client.v1.payment_intents.cancel_async(ref)
        except stripe.InvalidRequestError:
            # Refused: it succeeded (or is processing, or was cancelled) meanwhile. What
            # it is now decides.
            return await self.read(ref)
        except stripe.StripeError as exc:
            raise _unavailable("cancel", exc) from exc
        return _payment(intent.to_dict())

    async def refund(self, ref: str | None, amount: int, key: uuid.UUID) -> ProviderRefund:
        if ref is None:
            return ProviderRefund(None, ProviderRefundState.FAILED, "no payment to refund")
        params: Any = {
            "payment_intent": ref,
            "amount": amount,
            "metadata": {"refund_id": str(key)},
        }
        try:
            refund = await self._client.v1.refunds.create_async(
                params, {"idempotency_key": f"refund-{key}"}
            )
        except stripe.InvalidRequestError as exc:
            # A final refusal (more than is left, a charge disputed ...), not an outage.
            log.warning("stripe refused a refund", refund_id=str(key), code=exc.code)
            message = str(exc.user_message or exc.code or "refused by Stripe")
            return ProviderRefund(None, ProviderRefundState.FAILED, message[:500])
        except stripe.StripeError as exc:
            raise _unavailable("refund", exc) from exc
        answer = refund.to_dict()
        state = _REFUND_STATES.get(str(answer.get("status")), ProviderRefundState.PENDING)
        failure = answer.get("failure_reason") if state is ProviderRefundState.FAILED else None
        return ProviderRefund(str(answer["id"]), state, failure)

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, WEBHOOK_TOLERANCE_SECONDS
            )
            event = orjson.loads(payload)
            obj = event["data"]["object"]
            event_id, event_type = str(event["id"]), str(event["type"])
        except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError) as exc:
            raise InvalidSignatureError(
                "The Stripe-Signature header does not verify this body (or it is too old)."
            ) from exc
        ref: str | None = None
        if isinstance(obj, dict):
            kind = obj.get("object")
            if kind == "payment_intent":
                ref = obj.get("id")
            elif kind in ("charge", "refund"):
                ref = obj.get("payment_intent")
        return WebhookEvent(id=event_id, type=event_type, payment_ref=ref)
