"""Faults while Stripe payments are being confirmed (issue 16, "Done when"): the
products service frozen, and the PostgreSQL server (the orders database's) restarted,
while buyers pay at localstripe; after each, the books balance, money included.

Each test first places a basket of card orders through the gateway and leaves them
unpaid; the fault starts, and while it lasts the basket is paid at localstripe as
Stripe.js would pay it (so their webhooks meet the fault, a second later), beside
buyers who keep placing card orders and paying each at once (their placements retried
with the same Idempotency-Key until final, as in test_faults.py). After the fault every
order paid is confirmed exactly once with its units taken, paid in full and nothing
refunded, and nothing is left pending: whatever the fault cut off (a webhook refused
with 503, which localstripe never sends again; a commit at products that timed out)
the reconciler finishes by asking Stripe.

Marked ``resilience``: they run in ``make test-resilience``, on the shared `shop up`.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.orders.stripe_support import LocalStripe, intent_id
from tests.resilience.system import Shop, public_client, settle
from tests.resilience.test_faults import GIVE_UP_AFTER, Load

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("resilience"),
    pytest.mark.resilience,
]

BUYERS = 3
BASKET = 8  # card orders placed before the fault and paid while it lasts
STOCK = 10_000
PRICE = 1250


@dataclass
class Payers(Load):
    """Buyers paying by card: each places a stripe order, then pays it at localstripe
    at once, one order after another. ``basket``: orders placed but not paid yet."""

    stripe: LocalStripe = field(kw_only=True)
    basket: list[dict[str, Any]] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {**self.shop.order_body(self.product), "payment_provider": "stripe"}

    async def place(self, headers: dict[str, str]) -> dict[str, Any] | None:
        """A card order placed (retried until final), acknowledged; None if refused."""
        keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        url = self.shop.api + "/orders"
        answer = await self._until_final("POST", url, keyed, json=self.body())
        if answer is None:
            return None
        if answer.status_code != 201:
            self.unexpected.append(f"place: {answer.status_code} {answer.text[:300]}")
            return None
        order: dict[str, Any] = answer.json()
        self.acknowledged.append(order["id"])
        return order

    async def pay(self, order: dict[str, Any]) -> None:
        """What the buyer's browser does: the card set on the intent, which is confirmed."""
        answer = await self.stripe.pay(intent_id(order))
        if answer.status_code != 200:
            self.unexpected.append(f"pay: {answer.status_code} {answer.text[:300]}")
        else:
            self.paid.append(order["id"])

    async def pay_basket(self) -> None:
        await asyncio.gather(*[self.pay(order) for order in self.basket])

    async def payer(self, headers: dict[str, str]) -> None:
        while not self.stopping.is_set():
            order = await self.place(headers)
            if order is not None:
                await self.pay(order)


async def _until(done: Callable[[], bool], what: str, load: Payers) -> None:
    deadline = time.monotonic() + GIVE_UP_AFTER
    while not done():
        assert time.monotonic() < deadline, f"{what}: {load.seen} {load.unexpected}"
        await asyncio.sleep(0.1)


async def _paying_through(
    shop: Shop, stripe: LocalStripe, fault: Callable[[Payers], Awaitable[None]]
) -> Payers:
    """The basket placed, the payers running, then ``fault`` (which pays the basket
    while it lasts); then the books, and the money of every order acknowledged."""
    async with public_client(connections=50, timeout=40) as client:
        await stripe.send_webhooks_to(shop.api)  # Stripe's webhooks reach this system
        product = await shop.product(client, STOCK, price=PRICE)
        buyers = await shop.customers(client, BUYERS)
        load = Payers(shop, client, product, stripe=stripe)
        for index in range(BASKET):
            order = await load.place(buyers[index % BUYERS])
            assert order is not None, load.unexpected
            assert (order["status"], order["payment_status"]) == ("pending", "awaiting")
            load.basket.append(order)
        running = [asyncio.create_task(load.payer(headers)) for headers in buyers]
        try:
            await _until(lambda: len(load.paid) >= BUYERS, "no payments before the fault", load)
            await fault(load)
            await shop.await_ready()
            paid_after = len(load.paid)  # payments flow again: every buyer's worth
            await _until(lambda: len(load.paid) >= paid_after + BUYERS, "no payments", load)
        finally:
            load.stopping.set()
            await asyncio.gather(*running)

    assert not load.unexpected, load.unexpected
    assert set(load.seen) <= {"201", "409", "503", "504"}, load.seen
    assert sorted(load.paid) == sorted(load.acknowledged)  # every order placed was paid
    books = await settle(shop, {product: STOCK}, load.acknowledged)
    assert len(set(load.acknowledged)) == len(load.acknowledged)
    assert books.placed == set(load.acknowledged)
    assert {books.orders[order_id] for order_id in load.acknowledged} == {"confirmed"}
    assert books.sold == {product: len(load.acknowledged)}
    assert books.refunded == {}  # every hold stood: nothing to give back
    await _assert_paid_once(shop, load)
    return load


async def _assert_paid_once(shop: Shop, load: Payers) -> None:
    """Every order acknowledged is paid in full, its payment succeeded at Stripe, and
    its "payment received" email queued once."""
    rows = await shop.fetch(
        "orders",
        "SELECT o.id, o.payment_status::text AS says, p.status::text AS payment, p.amount,"
        " p.provider, (SELECT count(*) FROM outbox x WHERE x.payload->>'subject'"
        "  = 'Payment received for your order ' || o.number) AS emails"
        " FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = ANY($1)",
        [uuid.UUID(order_id) for order_id in load.acknowledged],
    )
    assert len(rows) == len(load.acknowledged)
    for row in rows:
        assert (row["provider"], row["says"], row["payment"]) == ("stripe", "paid", "succeeded")
        assert (row["amount"], row["emails"]) == (PRICE, 1), dict(row)
    for order in load.basket:
        intent = await load.stripe.intent(intent_id(order))
        assert (intent["status"], intent["amount"]) == ("succeeded", PRICE)


def _report(name: str, load: Payers, started: float) -> None:
    print(
        f"\n{name}: {dict(load.seen)} ({dict(load.problems)});"
        f" {len(load.acknowledged)} card orders paid ({len(load.basket)} during the fault);"
        f" {time.monotonic() - started:.1f} s"
    )


async def test_products_frozen_while_card_payments_confirm_and_books_balance(
    shop: Shop, localstripe: LocalStripe
) -> None:
    started = time.monotonic()

    async def freeze_products_while_paying(load: Payers) -> None:
        with shop.frozen(shop.service("products")):
            await load.pay_basket()
            # The outage goes on: the basket's webhooks (a second after each payment)
            # record the payments, and their commits at products time out.
            await asyncio.sleep(6)

    load = await _paying_through(shop, localstripe, freeze_products_while_paying)
    # placements gave up on the frozen catalog
    assert load.problems["503 catalog-unavailable"] > 0, load.problems
    _report("products SIGSTOP while paying", load, started)


async def test_postgresql_restarted_while_card_payments_confirm_and_books_balance(
    shop: Shop, localstripe: LocalStripe
) -> None:
    started = time.monotonic()

    async def restart_postgres_while_paying(load: Payers) -> None:
        command = shop.server_command("postgres")
        port = shop.port_of("ORDERS_DATABASE_URL")
        await shop.stop_server("postgres", signal.SIGINT)
        await load.pay_basket()
        # Down long enough for the basket's webhooks (a second after each payment) to
        # be refused: localstripe never sends them again.
        await asyncio.sleep(3)
        await shop.start_server(command, port)

    load = await _paying_through(shop, localstripe, restart_postgres_while_paying)
    assert load.problems["503 backing-service-unavailable"] > 0, load.problems
    _report("PostgreSQL restarted (3 s down) while paying", load, started)
