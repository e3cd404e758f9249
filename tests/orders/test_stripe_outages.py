"""Card payments when a dependency is cut off, through the gateway and against
localstripe: a second instance of the system that cannot reach Stripe (or products)
meets the request, and the first, whole, finishes what the outage left.

- Stripe unreachable when a pending card order is cancelled: 503, nothing changed
  (the intent could still be paid, so the order must not be cancelled).
"""

from __future__ import annotations

from tests.orders.stripe_shop import ShopFactory
from tests.orders.stripe_support import intent_id
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
