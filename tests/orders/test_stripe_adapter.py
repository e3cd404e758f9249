"""The Stripe adapter's requests, as Stripe receives them, where localstripe cannot
tell: it ignores idempotency keys (every create makes a new intent) and does not keep
the parameters it does not model (``automatic_payment_methods``). A small local HTTP
server speaks the two calls instead (create a PaymentIntent, create a refund), records
each request, and answers 500 as often as told, as Stripe does in an incident."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shop.orders.payment_providers.base import (
    ProviderRefundState,
    ProviderState,
    ProviderUnavailableError,
)
from shop.orders.payment_providers.stripe import StripeProvider
from tests.support import served


@dataclass
class Call:
    path: str
    key: str | None  # the Idempotency-Key header
    form: dict[str, str]  # the form body, nested keys as Stripe writes them: a[b]


@dataclass
class StandIn:
    """Stripe's two calls; the first ``failures`` requests are answered 500."""

    failures: int = 0
    calls: list[Call] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/payment_intents")
        async def create_intent(request: Request) -> Any:
            form = await self._record(request)
            if self.failures:
                return self._fail()
            return {
                "id": "pi_stand_in",
                "object": "payment_intent",
                "status": "requires_payment_method",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "client_secret": "pi_stand_in_secret_abc",
            }

        @app.post("/v1/refunds")
        async def create_refund(request: Request) -> Any:
            form = await self._record(request)
            if self.failures:
                return self._fail()
            return {
                "id": "re_stand_in",
                "object": "refund",
                "status": "succeeded",
                "amount": int(form["amount"]),
                "payment_intent": form["payment_intent"],
            }

        return app

    async def _record(self, request: Request) -> dict[str, str]:
        form = dict(parse_qsl((await request.body()).decode()))
        self.calls.append(Call(request.url.path, request.headers.get("idempotency-key"), form))
        return form

    def _fail(self) -> JSONResponse:
        self.failures -= 1
        error = {"error": {"type": "api_error", "message": "An error occurred."}}
        return JSONResponse(error, status_code=500)


async def _with_provider(stand_in: StandIn, call: Any) -> Any:
    with served(stand_in.app()) as url:
        provider = StripeProvider("sk_test_stand_in", "whsec_stand_in", api_base=url)
        try:
            return await call(provider)
        finally:
            await provider.aclose()


async def test_an_intent_is_keyed_by_its_order_and_retried_under_that_key() -> None:
    stand_in = StandIn(failures=1)
    order_id = uuid.uuid4()

    created = await _with_provider(
        stand_in, lambda p: p.create(order_id, "SH-000042", 4999, "EUR", "ada@example.com")
    )

    assert (created.ref, created.state) == ("pi_stand_in", ProviderState.AWAITING)
    assert created.client_secret == "pi_stand_in_secret_abc"
    # The 500, then the package's retry: the same request under the same key, so Stripe
    # answers the intent it made (if it made one) rather than a second.
    assert [(c.path, c.key) for c in stand_in.calls] == [
        ("/v1/payment_intents", f"order-{order_id}")
    ] * 2
    assert stand_in.calls[0].form == stand_in.calls[1].form
    assert stand_in.calls[1].form == {
        "amount": "4999",
        "currency": "eur",
        "automatic_payment_methods[enabled]": "true",
        "metadata[order_id]": str(order_id),
        "metadata[order_number]": "SH-000042",
    }


async def test_a_refund_is_keyed_by_the_refund_and_an_outage_is_unavailable() -> None:
    refund_id = uuid.uuid4()
    stand_in = StandIn(failures=1)

    made = await _with_provider(stand_in, lambda p: p.refund("pi_paid", 1200, refund_id))

    assert (made.ref, made.state) == ("re_stand_in", ProviderRefundState.SUCCEEDED)
    assert [(c.path, c.key) for c in stand_in.calls] == [("/v1/refunds", f"refund-{refund_id}")] * 2
    assert stand_in.calls[1].form == {
        "payment_intent": "pi_paid",
        "amount": "1200",
        "metadata[refund_id]": str(refund_id),
    }

    # Stripe failing for good: the retries spent (the same key each time), the refund
    # is left for the reconciler (ProviderUnavailableError), never recorded as refused.
    down = StandIn(failures=100)
    with pytest.raises(ProviderUnavailableError):
        await _with_provider(down, lambda p: p.refund("pi_paid", 1200, refund_id))
    assert {c.key for c in down.calls} == {f"refund-{refund_id}"}
    assert len(down.calls) == 3  # the first attempt and the package's two retries
