"""Card payments when a dependency is cut off, through the gateway and against
localstripe: a second instance of the system that cannot reach Stripe (or products)
meets the request, and the first, whole, finishes what the outage left.

- Stripe unreachable when a pending card order is cancelled: 503, nothing changed
  (the intent could still be paid, so the order must not be cancelled);
- products unreachable when a payment's webhook arrives: the payment is recorded, its
  units stay held, and the reconciler commits them and confirms the order, once.
"""

from __future__ import annotations

from tests.orders.stripe_shop import ShopFactory, confirmed, until_subjects
from tests.orders.stripe_support import intent_id, signed_event
from tests.orders.support import Tokens
from tests.products.reservation_support import Books, problem


async def test_a_cancel_stripe_cannot_hear_of_is_a_503_and_changes_nothing(
    shop: ShopFactory, tokens: Tokens, books: Books, dead_url: str
) -> None:
    product = await books.product(10, price=2500)
    user = await tokens.user()
    async with shop(webhooks_dropped=True) as running:
        order = await running.order(user, product)
        path = f"/orders/{order['id']}/cancel"
        async with shop(webhooks_dropped=True, stripe_api_base=dead_url) as cut_off:
            refused = await cut_off.client.post(path, headers=user.headers)

            assert problem(refused, 503, "payment-provider-unavailable")
            assert "retry-after" in refused.headers
        seen = await running.read(user, order["id"])
        assert (seen["status"], seen["payment_status"]) == ("pending", "awaiting")
        assert await books.levels(product) == (10, 2)  # still held
        assert (await running.stripe.intent(intent_id(order)))["status"] != "canceled"

        # Stripe reachable: the cancel goes through, the intent first.
        cancelled = await running.client.post(path, headers=user.headers)

        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["payment_status"] == "not_required"
        assert (await running.stripe.intent(intent_id(order)))["status"] == "canceled"
        assert await books.levels(product) == (10, 0)
        await books.assert_balanced(product)


async def test_a_payment_recorded_while_products_is_unreachable_is_confirmed_later(
    shop: ShopFactory, tokens: Tokens, books: Books, dead_url: str
) -> None:
    product = await books.product(10, price=2500)
    user, admin = await tokens.user(), await tokens.admin()
    async with shop(webhooks_dropped=True) as running:
        order = await running.order(user, product)
        intent = intent_id(order)
        assert (await running.stripe.pay(intent)).status_code == 200
        # Stripe's event reaches an instance that cannot reach products.
        cut_off_products = {"products_urls": [dead_url], "products_deadline_seconds": 2}
        async with shop(webhooks_dropped=True, **cut_off_products) as cut_off:
            event = signed_event("evt_paid", "payment_intent.succeeded", intent)
            assert (await cut_off.webhook(*event)).status_code == 200

        # Recorded as paid, the units still only held: a settlement stopped halfway.
        halfway = await running.read(admin, order["id"])
        assert (halfway["status"], halfway["payment_status"]) == ("pending", "paid")
        assert halfway["payment"]["status"] == "succeeded"
        assert await books.levels(product) == (10, 2)

    # The whole system's reconciler finishes it.
    async with shop(webhooks_dropped=True, reconcile_interval_seconds=0.2) as running:
        done = await running.until(admin, order["id"], confirmed)

        assert (done["payment_status"], done["payment"]["status"]) == ("paid", "succeeded")
        assert [h["status"] for h in done["history"]].count("confirmed") == 1
        assert await books.levels(product) == (8, 0)
        await books.assert_balanced(product)
        await until_subjects(running, done, 2)
        assert len(await running.subjects(done)) == 2  # confirmation, payment received
