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


class InvalidSignatureError(ShopError):
    """A webhook whose signature (or its timestamp) does not check out."""

    status = 400
    title = "Invalid signature"
    type_slug = "invalid-signature"
