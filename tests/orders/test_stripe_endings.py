"""How card orders end when things go against them, through the gateway and against
localstripe: ten refunds of everything at once, each under its own Idempotency-Key,
give the money back once; a payment that arrives after the order's units were sold to
someone else is refunded in full and the order says why; an order never paid, with
every webhook lost, still ends cancelled with its units back on the shelf; and a
payment that the webhook, the customer and the reconciler all learn of at once
confirms the order once."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from shop.products.reservations import sweep_expired
from tests.orders.stripe_shop import (
    ShopFactory,
    confirmed,
    lapse,
    until_levels,
    until_subjects,
)
from tests.orders.stripe_support import intent_id, signed_event
from tests.orders.support import Tokens, order_body
from tests.products.reservation_support import Books, problem

RACERS = 10


async def test_ten_refunds_of_a_card_payment_each_under_its_own_key_refund_it_once(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=1999)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop(webhooks_dropped=True) as running:
        order = await running.order(user, product, quantity=3)
        intent = intent_id(order)
        assert (await running.stripe.pay(intent)).status_code == 200
        paid = await running.read(user, order["id"])  # the owner's read asks Stripe
        assert (paid["status"], paid["payment_status"]) == ("confirmed", "paid")
        barrier = asyncio.Barrier(RACERS)

        async def refund_everything(key: str) -> httpx.Response:
            headers = {**admin.headers, "Idempotency-Key": key}
            await barrier.wait()  # every request is under way before any is answered
            path = f"/orders/{order['id']}/refunds"
            return await running.client.post(path, json={"reason": "all of it"}, headers=headers)

        answers = await asyncio.wait_for(
            asyncio.gather(*[refund_everything(f"refund-{n}") for n in range(RACERS)]), 120
        )

        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] + [409] * (RACERS - 1), [answer.text for answer in answers]
        [made] = [answer.json() for answer in answers if answer.status_code == 201]
        assert (made["amount"], made["status"]) == (5997, "succeeded")
        for answer in answers:
            if answer.status_code == 409:
                assert problem(answer, 409, "refund-exceeds-payment")["remaining"] == 0
        # At Stripe: one refund, of all that was paid.
        assert [r["amount"] for r in await running.stripe.refunds(intent)] == [5997]
        seen = await running.read(user, order["id"])
        assert seen["payment_status"] == "refunded"
        assert [(r["id"], r["amount"]) for r in seen["refunds"]] == [(made["id"], 5997)]
        assert await running.db.fetchval("SELECT count(*) FROM refunds") == 1
        # The confirmation, "payment received" and one "refund issued".
        await until_subjects(running, seen, 3)
        subjects = await running.subjects(seen)
        assert sum(s.startswith("A refund for your order") for s in subjects) == 1
        # The winner's key again: its answer, and nothing more refunded.
        winner = [answer.status_code for answer in answers].index(201)
        headers = {**admin.headers, "Idempotency-Key": f"refund-{winner}"}
        again = await running.client.post(
            f"/orders/{order['id']}/refunds", json={"reason": "all of it"}, headers=headers
        )
        assert (again.status_code, again.json()) == (201, made)
        assert len(await running.stripe.refunds(intent)) == 1


async def test_a_payment_after_its_units_were_sold_to_another_is_refunded_and_said_so(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(2, price=2500)
    late, other, admin = await tokens.user(), await tokens.user(), await tokens.admin()
    async with shop() as running:  # Stripe's webhooks arrive
        order = await running.order(late, product)
        # Its hold ends at products, whose sweeper puts the units back on the shelf ...
        await books.age(uuid.UUID(order["id"]))
        async with books.sessionmaker() as session, session.begin():
            assert await sweep_expired(session) == 1
        # ... and another buyer takes them (paying by bank transfer: taken at once).
        body = order_body((product, 2), payment_provider="manual")
        sold = await running.client.post("/orders", json=body, headers=other.headers)
        assert sold.status_code == 201, sold.text
        assert sold.json()["status"] == "confirmed"
        assert await books.levels(product) == (0, 0)

        # The first buyer pays now: the webhook tells the system.
        assert (await running.stripe.pay(intent_id(order))).status_code == 200
        done = await running.until(admin, order["id"], lambda o: o["payment_status"] == "refunded")

        assert (done["status"], done["payment"]["status"]) == ("cancelled", "succeeded")
        assert [(r["amount"], r["status"]) for r in done["refunds"]] == [(5000, "succeeded")]
        notes = [entry["note"] or "" for entry in done["history"]]
        assert any("paid after its stock hold lapsed" in note for note in notes), notes
        assert any("refunded 50.00 USD" in note for note in notes), notes
        refunded = await running.stripe.refunds(intent_id(order))
        assert [refund["amount"] for refund in refunded] == [5000]
        assert await running.db.fetchval("SELECT bool_and(automatic) FROM refunds")
        # The buyer is told of the refund; never that the order is confirmed.
        await until_subjects(running, done, 1)
        subjects = await running.subjects(done)
        assert subjects == [f"A refund for your order {done['number']}"], subjects
        # The other buyer's order stands with the units.
        assert confirmed(await running.read(other, sold.json()["id"]))
        assert await books.levels(product) == (0, 0)
        await books.assert_balanced(product)


async def test_an_order_never_paid_ends_cancelled_without_any_webhook(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    settings = {"reconcile_interval_seconds": 0.2, "payment_settle_after_seconds": 0}
    async with shop(webhooks_dropped=True, **settings) as running:
        order = await running.order(user, product)
        declined = await running.stripe.pay(intent_id(order), "pm_card_visa_chargeDeclined")
        assert declined.status_code == 402, declined.text

        # No webhook, and the admin's reads never ask Stripe: the reconciler does.
        failed = await running.until(
            admin, order["id"], lambda o: o["payment"]["last_error"] is not None
        )
        assert (failed["status"], failed["payment_status"]) == ("pending", "awaiting")
        await lapse(running, order)
        done = await running.until(admin, order["id"], lambda o: o["status"] == "cancelled")

        assert (done["payment_status"], done["payment"]["status"]) == ("not_required", "cancelled")
        assert done["refunds"] == []
        assert (await running.stripe.intent(intent_id(order)))["status"] == "canceled"
        assert await running.db.fetchval("SELECT count(*) FROM payment_events") == 0
        await until_levels(books, product, (10, 0))  # given back after the cancel
        await books.assert_balanced(product)
        assert await running.subjects(done) == []  # never confirmed, nothing charged


async def test_the_webhook_the_owner_and_the_reconciler_arriving_at_once_confirm_it_once(
    shop: ShopFactory, tokens: Tokens, books: Books
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    # The reconciler asks Stripe about the payment at every round (every 0.2 s).
    settings = {"reconcile_interval_seconds": 0.2, "payment_settle_after_seconds": 0}
    async with shop(webhooks_dropped=True, **settings) as running:
        order = await running.order(user, product)
        intent = intent_id(order)
        assert (await running.stripe.pay(intent)).status_code == 200

        # Stripe's events (each its own id) and the customer back from paying, at once.
        answers = await asyncio.gather(
            *[
                running.webhook(*signed_event(f"evt_{n}", "payment_intent.succeeded", intent))
                for n in range(RACERS // 2)
            ],
            *[
                running.client.get(f"/orders/{order['id']}", headers=user.headers)
                for _ in range(RACERS // 2)
            ],
        )

        assert [answer.status_code for answer in answers] == [200] * RACERS
        done = await running.until(admin, order["id"], confirmed)
        assert (done["payment_status"], done["payment"]["status"]) == ("paid", "succeeded")
        assert [h["status"] for h in done["history"]].count("confirmed") == 1
        notes = [entry["note"] or "" for entry in done["history"]]
        assert sum("payment of 50.00 USD received" in note for note in notes) == 1, notes
        await until_subjects(running, done, 2)
        assert len(await running.subjects(done)) == 2  # confirmation, payment received
        assert await books.levels(product) == (8, 0)  # taken once
        await books.assert_balanced(product)
