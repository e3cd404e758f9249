"""The manual provider: bank transfer or cash on delivery. It keeps no record of its
own: an admin marks the order paid, and a refund is money given back offline, so it is
recorded as done at once."""

from __future__ import annotations

import uuid

from shop.orders.payment_errors import InvalidSignatureError
from shop.orders.payment_providers.base import (
    ProviderPayment,
    ProviderRefund,
    ProviderRefundState,
    ProviderState,
    WebhookEvent,
)

MANUAL = "manual"


class ManualProvider:
    name = MANUAL
    online = False

    async def create(
        self, order_id: uuid.UUID, number: str, amount: int, currency: str, email: str
    ) -> ProviderPayment:
        return ProviderPayment(ref=None, state=ProviderState.AWAITING)

    async def read(self, ref: str) -> ProviderPayment:
        # Nothing to ask: only an admin knows whether the money arrived.
        return ProviderPayment(ref=ref, state=ProviderState.AWAITING)

    async def cancel(self, ref: str) -> ProviderPayment:
        return ProviderPayment(ref=ref, state=ProviderState.CANCELLED)

    async def refund(self, ref: str | None, amount: int, key: uuid.UUID) -> ProviderRefund:
        return ProviderRefund(ref=None, state=ProviderRefundState.SUCCEEDED)

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        raise InvalidSignatureError("The manual provider sends no webhooks.")
