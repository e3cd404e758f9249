"""Refunds of orders paid with Stripe, against localstripe: given back at Stripe in
part and (on cancel) in full, never marked paid by hand, and a refund Stripe could not
be asked for finished by the reconciler with the same idempotency key."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from shop.orders.app import create_app
from tests.orders.conftest import EnvFactory
from tests.orders.stripe_support import LocalStripe, intent_id
from tests.orders.support import API, OrdersEnv, Tokens, User, order_body, orders_settings
from tests.orders.test_refunds import books_of_money, mark_paid, refund
from tests.products.reservation_support import problem
from tests.support import Databases, app_client


async def paid_by_card(
    env: OrdersEnv, stripe: LocalStripe, user: User, product: uuid.UUID
) -> tuple[dict[str, Any], str]:
    """A stripe order of two units, paid as Stripe.js would, then read back by its owner
    (which settles it) until confirmed; and its PaymentIntent's id."""
    body = order_body((product, 2), payment_provider="stripe")
    placed = await env.client.post(API, json=body, headers=user.headers)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    intent = intent_id(order)  # the client secret is answered only while awaiting
    paid = await stripe.pay(intent)
    assert paid.status_code == 200, paid.text
    deadline = time.monotonic() + 60
    while True:
        seen = (await env.get(user, order["id"])).json()
        if seen["status"] == "confirmed":
            return seen, intent
        assert time.monotonic() < deadline, seen
        await asyncio.sleep(0.1)


async def test_a_card_payment_is_refunded_at_stripe_in_part_then_the_rest_on_cancel(
    make_env: EnvFactory, products_url: str, localstripe: LocalStripe
) -> None:
    async with make_env(products_url, **localstripe.settings()) as env:
        product = await env.books.product(10, price=2500)
        ada, admin = await env.tokens.user(), await env.tokens.admin()
        order, intent = await paid_by_card(env, localstripe, ada, product)
        assert (order["payment_status"], order["payment"]["amount"]) == ("paid", 5000)
        problem(await mark_paid(env, admin, order["id"]), 409, "payment-not-manual")

        made = await refund(env, admin, order["id"], key="r-1", amount=1200, reason="scratched")

        assert made.status_code == 201, made.text
        assert made.json()["status"] == "succeeded"
        at_stripe = await localstripe.refunds(intent)
        assert [(r["amount"], r["metadata"]) for r in at_stripe] == [
            (1200, {"refund_id": made.json()["id"]})
        ]
        row = await env.db.fetchrow("SELECT provider_ref FROM refunds")
        assert row is not None
        assert row["provider_ref"] == at_stripe[0]["id"]

        cancelled = await env.cancel(ada, order["id"])

        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert (body["status"], body["payment_status"]) == ("cancelled", "refunded")
        at_stripe = await localstripe.refunds(intent)
        assert sorted(r["amount"] for r in at_stripe) == [1200, 3800]
        assert await env.books.levels(product) == (10, 0)
        assert await books_of_money(env, order["id"]) == (5000, 5000, 5000)


async def test_a_refund_stripe_could_not_be_asked_for_is_finished_by_the_reconciler(
    make_env: EnvFactory,
    products_url: str,
    localstripe: LocalStripe,
    databases: Databases,
    tokens: Tokens,
    tmp_path: Path,
    dead_url: str,
) -> None:
    async with make_env(products_url, **localstripe.settings()) as env:
        product = await env.books.product(10, price=2500)
        ada, admin = await env.tokens.user(), await env.tokens.admin()
        order, intent = await paid_by_card(env, localstripe, ada, product)
        # Another instance of the service, which cannot reach Stripe now.
        cut_off = {**localstripe.settings(), "stripe_api_base": dead_url}
        settings = orders_settings(databases, tokens, tmp_path / "cut-off", products_url, **cut_off)
        async with app_client(create_app(settings)) as client:
            path = f"{API}/{order['id']}/refunds"
            body = {"amount": 2000, "reason": "one was broken"}
            made = await client.post(path, json=body, headers=admin.headers)

        assert made.status_code == 201, made.text
        assert made.json()["status"] == "pending"
        assert await localstripe.refunds(intent) == []
        seen = (await env.get(ada, order["id"])).json()
        assert seen["payment_status"] == "paid"
        assert [(r["amount"], r["status"]) for r in seen["refunds"]] == [(2000, "pending")]

        await env.db.execute("UPDATE refunds SET created_at = now() - interval '5 minutes'")
        assert (await env.reconcile()).refunds_finished == 1

        at_stripe = await localstripe.refunds(intent)
        assert [(r["amount"], r["metadata"]) for r in at_stripe] == [
            (2000, {"refund_id": made.json()["id"]})
        ]
        seen = (await env.get(ada, order["id"])).json()
        assert seen["payment_status"] == "partially_refunded"
        assert [(r["amount"], r["status"]) for r in seen["refunds"]] == [(2000, "succeeded")]
        assert await books_of_money(env, order["id"]) == (5000, 2000, 2000)
        subjects = [
            str(row["subject"])
            for row in await env.db.fetch("SELECT payload->>'subject' AS subject FROM outbox")
        ]
        assert subjects.count(f"A refund for your order {order['number']}") == 1
