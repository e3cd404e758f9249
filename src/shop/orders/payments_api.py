"""Routes of payment providers' webhooks, under ``/api/v1/payments`` (no bearer token:
a webhook proves itself by its signature)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Request

from shop.kit.errors import problem_responses
from shop.orders import payments
from shop.orders.api import OrdersContext
from shop.orders.payment_providers.stripe import STRIPE

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
log = structlog.get_logger("shop.orders.payments")


@router.post(
    "/stripe/webhook",
    summary="Stripe's webhook: events verified by their Stripe-Signature, each acted on once",
    responses=problem_responses(400, 404, 503),
)
async def stripe_webhook(
    request: Request,
    orders: OrdersContext,
    signature: Annotated[str | None, Header(alias="Stripe-Signature", max_length=2000)] = None,
) -> dict[str, str]:
    # The raw body, as signed: never parsed before it is verified.
    payload = await request.body()
    done = await payments.handle_webhook(orders, STRIPE, payload, signature)
    log.info("stripe webhook", outcome=done)
    return {"received": "ok"}
