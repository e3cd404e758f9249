"""Paying with Stripe through the gateway, against localstripe: orders held pending
until paid, confirmed exactly once by whichever hears of the payment first (the
webhook, the customer back from paying, the reconciler), declines, lost, repeated and
out-of-order webhooks, an event that could not be settled (forgotten, so that Stripe's
retry is acted on), forged signatures, lapsed holds, and a payment that arrives after
its hold lapsed and its stock was sold (refunded automatically)."""

from __future__ import annotations

import asyncio
import time
import uuid

from tests.orders.stripe_shop import (
    ShopFactory,
    confirmed,
    lapse,
    until_levels,
    until_subjects,
)
from tests.orders.stripe_support import intent_id, signed_event
from tests.orders.support import ADDRESS, Tokens
from tests.products.reservation_support import Books, problem


async def test_a_card_payment_confirms_the_order_once_through_the_webhook(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop() as running:
        order = await running.order(user, product)

        assert (order["status"], order["payment_status"]) == ("pending", "awaiting")
        payment = order["payment"]
        assert (payment["provider"], payment["status"]) == ("stripe", "awaiting")
        assert (payment["amount"], payment["currency"]) == (5000, "USD")
        assert payment["client_secret"]
        assert await books.levels(product) == (10, 2)  # held, not taken
        intent = await running.stripe.intent(intent_id(order))
        assert (intent["amount"], intent["currency"]) == (5000, "usd")
        assert intent["metadata"] == {"order_id": order["id"], "order_number": order["number"]}
        # The secret is the owner's alone.
        as_admin = await running.read(admin, order["id"])
        assert as_admin["payment"]["client_secret"] is None

        paid = await running.stripe.pay(intent_id(order))
        assert paid.status_code == 200, paid.text

        # The admin's reads never ask Stripe: only the webhook can confirm it here.
        done = await running.until(admin, order["id"], confirmed)
        assert done["payment_status"] == "paid"
        assert done["payment"]["status"] == "succeeded"
        assert done["payment"]["paid_at"] is not None
        assert await books.levels(product) == (8, 0)  # taken
        await books.assert_balanced(product)
        mine = await running.read(user, order["id"])
        assert mine["payment"]["client_secret"] is None  # paid: no longer answered
        await until_subjects(running, done, 2)
        subjects = await running.subjects(done)
        assert len(subjects) == 2  # the confirmation and "payment received", once each
        assert any("Payment received" in subject for subject in subjects)
        assert [h["status"] for h in done["history"]].count("confirmed") == 1


async def test_the_customer_back_from_paying_finds_the_order_paid(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user = await tokens.user()
    async with shop(webhooks_dropped=True) as running:
        order = await running.order(user, product)
        assert (await running.stripe.pay(intent_id(order))).status_code == 200

        read = await running.read(user, order["id"])  # the owner's read asks Stripe

        assert (read["status"], read["payment_status"]) == ("confirmed", "paid")
        assert await books.levels(product) == (8, 0)


async def test_a_declined_card_leaves_the_order_pending_and_held(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop() as running:
        order = await running.order(user, product)

        declined = await running.stripe.pay(intent_id(order), "pm_card_visa_chargeDeclined")
        assert declined.status_code == 402, declined.text

        failed = await running.until(
            admin, order["id"], lambda o: o["payment"]["last_error"] is not None
        )
        assert (failed["status"], failed["payment_status"]) == ("pending", "awaiting")
        assert failed["payment"]["status"] == "awaiting"
        assert await books.levels(product) == (10, 2)  # the hold still counts
        await books.assert_balanced(product)
        assert await running.subjects(failed) == []  # a decline sends nothing
        # The buyer tries another card.
        assert (await running.stripe.pay(intent_id(order))).status_code == 200
        done = await running.until(admin, order["id"], confirmed)
        assert done["payment"]["last_error"] is None
        assert (done["payment_status"], done["payment"]["status"]) == ("paid", "succeeded")
        assert await books.levels(product) == (8, 0)
        await books.assert_balanced(product)
        # The confirmation and "payment received", once each; the intent paid in full.
        await until_subjects(running, done, 2)
        assert len(await running.subjects(done)) == 2
        intent = await running.stripe.intent(intent_id(order))
        assert (intent["status"], intent["amount"]) == ("succeeded", 5000)


async def test_a_lost_webhook_is_made_up_for_by_the_reconciler(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    settings = {"reconcile_interval_seconds": 0.2, "payment_settle_after_seconds": 0}
    async with shop(webhooks_dropped=True, **settings) as running:
        order = await running.order(user, product)
        assert (await running.stripe.pay(intent_id(order))).status_code == 200

        done = await running.until(admin, order["id"], confirmed)

        assert done["payment_status"] == "paid"
        assert await running.db.fetchval("SELECT count(*) FROM payment_events") == 0
        assert await books.levels(product) == (8, 0)
        await books.assert_balanced(product)


async def test_repeated_and_out_of_order_events_are_harmless(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop(webhooks_dropped=True) as running:
        order = await running.order(user, product)
        intent = intent_id(order)

        # "Succeeded" before it is paid: the body is not believed, Stripe is asked.
        early = await running.webhook(
            *signed_event("evt_early", "payment_intent.succeeded", intent)
        )
        assert early.status_code == 200, early.text
        assert (await running.read(admin, order["id"]))["status"] == "pending"

        assert (await running.stripe.pay(intent)).status_code == 200
        # An older event arriving last still settles the payment as it stands.
        late = await running.webhook(
            *signed_event("evt_late", "payment_intent.payment_failed", intent)
        )
        assert late.status_code == 200, late.text
        assert confirmed(await running.read(admin, order["id"]))

        # The same events again, and concurrently: nothing happens twice.
        again = await asyncio.gather(
            *[
                running.webhook(*signed_event("evt_late", "payment_intent.payment_failed", intent))
                for _ in range(5)
            ],
            running.webhook(*signed_event("evt_other", "payment_intent.succeeded", intent)),
        )
        assert [answer.status_code for answer in again] == [200] * 6
        done = await running.read(admin, order["id"])
        assert [h["status"] for h in done["history"]].count("confirmed") == 1
        await until_subjects(running, done, 2)
        assert len(await running.subjects(done)) == 2
        assert await books.levels(product) == (8, 0)
        # An unknown type, and a payment of no order: 200, ignored.
        ignored = await running.webhook(*signed_event("evt_x", "customer.created", intent))
        unknown = await running.webhook(
            *signed_event("evt_y", "payment_intent.succeeded", "pi_nobody")
        )
        assert (ignored.status_code, unknown.status_code) == (200, 200)


async def test_an_event_stripe_could_not_be_asked_about_is_forgotten_until_sent_again(
    shop: ShopFactory, tokens: Tokens, books: Books, dead_url: str
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop(webhooks_dropped=True) as running:
        order = await running.order(user, product)
        intent = intent_id(order)
        assert (await running.stripe.pay(intent)).status_code == 200
        event = signed_event("evt_retried", "payment_intent.succeeded", intent)
        # Another instance of the system, which cannot reach Stripe now, gets the event.
        async with shop(webhooks_dropped=True, stripe_api_base=dead_url) as cut_off:
            refused = await cut_off.webhook(*event)

            assert problem(refused, 503, "payment-provider-unavailable")
            assert "retry-after" in refused.headers
            assert await running.db.fetchval("SELECT count(*) FROM payment_events") == 0
            assert (await running.read(admin, order["id"]))["status"] == "pending"

        # Stripe sends the same event again: acted on now, and once.
        assert (await running.webhook(*event)).status_code == 200
        assert (await running.webhook(*event)).status_code == 200
        done = await running.read(admin, order["id"])
        assert (done["status"], done["payment_status"]) == ("confirmed", "paid")
        assert await running.db.fetchval("SELECT count(*) FROM payment_events") == 1
        assert await books.levels(product) == (8, 0)


async def test_a_forged_or_stale_signature_is_refused(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop(webhooks_dropped=True) as running:
        order = await running.order(user, product)
        intent = intent_id(order)
        assert (await running.stripe.pay(intent)).status_code == 200
        body, signature = signed_event("evt_forged", "payment_intent.succeeded", intent)
        stale = signed_event(
            "evt_stale", "payment_intent.succeeded", intent, at=int(time.time()) - 600
        )

        answers = [
            await running.webhook(body, signature.replace("v1=", "v1=0")),
            await running.webhook(body, None),
            await running.webhook(body + b" ", signature),  # the body changed on the way
            await running.webhook(*stale),
        ]

        for answer in answers:
            assert answer.status_code == 400, answer.text
            assert answer.json()["type"].endswith("/invalid-signature")
        assert await running.db.fetchval("SELECT count(*) FROM payment_events") == 0
        assert (await running.read(admin, order["id"]))["status"] == "pending"


async def test_a_lapsed_hold_cancels_the_order_and_frees_the_stock(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop(reconcile_interval_seconds=0.2) as running:
        order = await running.order(user, product)
        await lapse(running, order)

        done = await running.until(admin, order["id"], lambda o: o["status"] == "cancelled")

        assert done["payment_status"] == "not_required"
        assert done["payment"]["status"] == "cancelled"
        await until_levels(books, product, (10, 0))  # given back after the cancel
        await books.assert_balanced(product)
        assert (await running.stripe.intent(intent_id(order)))["status"] == "canceled"
        # It can no longer be paid.
        assert (await running.stripe.pay(intent_id(order))).status_code >= 400


async def test_a_payment_after_the_hold_lapsed_and_the_stock_went_is_refunded(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(2, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop(webhooks_dropped=True, reconcile_interval_seconds=0.2) as running:
        order = await running.order(user, product)
        # Products let the hold go (it expired there), and the stock was sold meanwhile.
        await books.age(uuid.UUID(order["id"]))
        assert (await running.stripe.pay(intent_id(order))).status_code == 200
        await lapse(running, order)

        done = await running.until(admin, order["id"], lambda o: o["payment_status"] == "refunded")

        assert done["status"] == "cancelled"
        assert [(r["amount"], r["status"]) for r in done["refunds"]] == [(5000, "succeeded")]
        assert await running.db.fetchval("SELECT bool_and(automatic) FROM refunds")
        refunded = await running.stripe.refunds(intent_id(order))
        assert [refund["amount"] for refund in refunded] == [5000]
        assert await books.levels(product) == (2, 0)
        await books.assert_balanced(product)


async def test_cancelling_an_unpaid_order_cancels_its_payment(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user = await tokens.user()
    async with shop(webhooks_dropped=True) as running:
        order = await running.order(user, product)

        cancelled = await running.client.post(f"/orders/{order['id']}/cancel", headers=user.headers)

        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["payment_status"] == "not_required"
        assert (await running.stripe.intent(intent_id(order)))["status"] == "canceled"
        assert await books.levels(product) == (10, 0)


async def test_stripe_answers_503_when_unreachable_and_keeps_nothing(
    shop: ShopFactory, tokens: Tokens, books: Books, dead_url: str
) -> None:
    product = await books.product(10, price=2500)
    user = await tokens.user()
    async with shop(stripe_api_base=dead_url) as running:
        body = {
            "items": [{"product_id": str(product), "quantity": 1}],
            "shipping_address": ADDRESS,
            "payment_provider": "stripe",
        }
        refused = await running.client.post("/orders", json=body, headers=user.headers)

        assert refused.status_code == 503, refused.text
        assert refused.json()["type"].endswith("/payment-provider-unavailable")
        assert "retry-after" in refused.headers
        assert await books.levels(product) == (10, 0)
        status = await running.db.fetchval("SELECT status::text FROM orders")
        assert status == "cancelled"


async def test_a_provider_not_enabled_is_a_422_naming_it(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user = await tokens.user()
    async with shop(payment_providers=["manual"]) as running:
        body = {
            "items": [{"product_id": str(product), "quantity": 1}],
            "shipping_address": ADDRESS,
            "payment_provider": "stripe",
        }
        refused = await running.client.post("/orders", json=body, headers=user.headers)
        hook = await running.webhook(*signed_event("evt_1", "payment_intent.succeeded", "pi_1"))

        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["payment_provider"]
        assert hook.status_code == 404, hook.text
