"""The business errors of payments and refunds (see shop.kit.errors); beside
shop.orders.errors, which holds those of orders, carts and pricing."""

from __future__ import annotations

from typing import Any

from shop.kit.errors import ShopError, UpstreamUnavailableError


class PaymentProviderUnavailableError(UpstreamUnavailableError):
    """The payment provider could not be reached or failed; nothing was charged."""

    title = "Payment provider unavailable"
    type_slug = "payment-provider-unavailable"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail or "The payment provider could not be reached; nothing was charged. Try again.",
            **extra,
        )


class PaymentProviderNotEnabledError(ShopError):
    """A webhook for a provider this shop does not enable."""

    status = 404
    title = "Payment provider not enabled"
    type_slug = "payment-provider-not-enabled"


class InvalidSignatureError(ShopError):
    """A webhook whose signature (or its timestamp) does not check out."""

    status = 400
    title = "Invalid signature"
    type_slug = "invalid-signature"


class OrderNotPaidError(ShopError):
    """A refund of an order whose payment has not succeeded: there is nothing to give back."""

    status = 409
    title = "Order not paid"
    type_slug = "order-not-paid"


class RefundExceedsPaymentError(ShopError):
    """More than is left of what was paid (paid - every refund not failed)."""

    status = 409
    title = "Refund exceeds payment"
    type_slug = "refund-exceeds-payment"

    def __init__(self, remaining: int, in_words: str) -> None:
        """``remaining`` in minor units, and as money in words (``"38.00 USD"``)."""
        message = f"at most {in_words} is left to refund"
        super().__init__(
            f"The refund is more than what is left of the payment: {message}.",
            remaining=remaining,
            errors=[{"field": "amount", "message": message[0].upper() + message[1:] + "."}],
        )


class PaymentNotManualError(ShopError):
    """Only a manual payment (bank transfer, cash) is marked paid by hand; a provider's
    payment is paid when the provider says so."""

    status = 409
    title = "Not a manual payment"
    type_slug = "payment-not-manual"


class OrderCancelledError(ShopError):
    """A cancelled order owes nothing: it cannot be marked paid."""

    status = 409
    title = "Order cancelled"
    type_slug = "order-cancelled"
