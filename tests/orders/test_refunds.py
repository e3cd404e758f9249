"""Mark-paid and refunds against the real orders and products services: manual orders
paid by an admin, refunded in part and in full, never more than paid (also when ten
admins race), idempotent by key, refunded in full when a paid order is cancelled, and
finished by the reconciler after a crash between the steps; the same through a real
gateway."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shop.kit.db import unit_of_work
from shop.orders import refunds
from shop.orders.repository import OrderRepository
from tests.orders.support import (
    API,
    OrdersEnv,
    Tokens,
    User,
    behind_gateway,
    order_body,
    orders_settings,
    truncate_orders,
)
from tests.products.reservation_support import Books, problem
from tests.support import Databases

RACERS = 10


async def mark_paid(env: OrdersEnv, user: User, order_id: str) -> httpx.Response:
    return await env.client.post(f"{API}/{order_id}/payment/mark-paid", headers=user.headers)


async def refund(
    env: OrdersEnv, user: User, order_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = dict(user.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await env.client.post(f"{API}/{order_id}/refunds", json=body, headers=headers)


async def paid_order(env: OrdersEnv, price: int = 2500, quantity: int = 2) -> dict[str, Any]:
    """A manual order of ``quantity`` units, marked paid by an admin."""
    product = await env.books.product(10, price=price)
    customer = await env.tokens.user()
    order = await env.placed(customer, (product, quantity))
    paid = await mark_paid(env, await env.tokens.admin(), order["id"])
    assert paid.status_code == 200, paid.text
    body: dict[str, Any] = paid.json()
    body["product_id"] = product
    body["customer"] = customer
    return body


async def books_of_money(env: OrdersEnv, order_id: str) -> tuple[int, int, int]:
    """(paid, refunded, refunds not failed) of the order, from the database."""
    row = await env.db.fetchrow(
        "SELECT p.amount AS paid,"
        " coalesce(sum(r.amount) FILTER (WHERE r.status = 'succeeded'), 0) AS refunded,"
        " coalesce(sum(r.amount) FILTER (WHERE r.status <> 'failed'), 0) AS promised"
        " FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id"
        " WHERE p.order_id = $1 AND p.status = 'succeeded' GROUP BY p.amount",
        uuid.UUID(order_id),
    )
    assert row is not None
    return int(row["paid"]), int(row["refunded"]), int(row["promised"])


async def test_a_manual_order_is_marked_paid_once(env: OrdersEnv) -> None:
    product = await env.books.product(5, price=4500)
    ada = await env.tokens.user()
    admin = await env.tokens.admin()
    order = await env.placed(ada, (product, 2))
    assert (order["status"], order["payment_status"]) == ("confirmed", "awaiting")
    assert order["refunds"] == []

    problem(await mark_paid(env, ada, order["id"]), 403)
    problem(await mark_paid(env, admin, str(uuid.uuid4())), 404)
    paid = await mark_paid(env, admin, order["id"])

    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert (body["status"], body["payment_status"]) == ("confirmed", "paid")
    assert body["payment"]["status"] == "succeeded"
    assert body["payment"]["amount"] == 9000
    assert body["payment"]["paid_at"]
    assert "payment of 90.00 USD received" in body["history"][-1]["note"]
    # Again: the same answer, nothing recorded twice.
    again = await mark_paid(env, admin, order["id"])
    assert again.status_code == 200
    assert again.json()["history"] == body["history"]
    assert again.json()["payment"]["paid_at"] == body["payment"]["paid_at"]
    seen = (await env.get(ada, order["id"])).json()
    assert (seen["payment_status"], seen["payment"]["status"]) == ("paid", "succeeded")


async def test_mark_paid_refuses_a_cancelled_order_and_a_provider_payment(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada = await env.tokens.user()
    admin = await env.tokens.admin()
    cancelled = await env.placed(ada, (product, 1))
    assert (await env.cancel(ada, cancelled["id"])).status_code == 200
    problem(await mark_paid(env, admin, cancelled["id"]), 409, "order-cancelled")

    # An order whose payment a provider collects (the stripe tests place real ones) is
    # paid when the provider says so, never by hand.
    online = await env.placed(ada, (product, 1))
    await env.db.execute(
        "UPDATE payments SET provider = 'stripe', provider_ref = 'pi_test' WHERE order_id = $1",
        uuid.UUID(online["id"]),
    )
    problem(await mark_paid(env, admin, online["id"]), 409, "payment-not-manual")
    assert (await env.order_row(online["id"]))["payment_status"] == "awaiting"


async def test_refunds_in_part_then_the_rest_never_more_than_paid(env: OrdersEnv) -> None:
    order = await paid_order(env, price=2500, quantity=2)  # 50.00 USD paid
    admin = await env.tokens.admin()
    customer: User = order["customer"]

    problem(await refund(env, customer, order["id"], amount=100, reason="no"), 403)
    part = await refund(env, admin, order["id"], amount=1200, reason="a chipped handle")
    assert part.status_code == 201, part.text
    first = part.json()
    assert (first["amount"], first["reason"], first["status"]) == (
        1200,
        "a chipped handle",
        "succeeded",
    )
    seen = (await env.get(customer, order["id"])).json()
    assert seen["payment_status"] == "partially_refunded"
    assert [r["id"] for r in seen["refunds"]] == [first["id"]]
    assert "refunded 12.00 USD: a chipped handle" in seen["history"][-1]["note"]

    too_much = await refund(env, admin, order["id"], amount=3801, reason="more")
    assert problem(too_much, 409, "refund-exceeds-payment")["remaining"] == 3800

    rest = await refund(env, admin, order["id"], reason="the customer sent it back")
    assert rest.status_code == 201, rest.text
    assert (rest.json()["amount"], rest.json()["status"]) == (3800, "succeeded")
    seen = (await env.get(customer, order["id"])).json()
    assert seen["payment_status"] == "refunded"
    assert [r["amount"] for r in seen["refunds"]] == [1200, 3800]
    assert seen["status"] == "confirmed"  # refunding is not cancelling

    problem(await refund(env, admin, order["id"], reason="again"), 409, "refund-exceeds-payment")
    assert await books_of_money(env, order["id"]) == (5000, 5000, 5000)


async def test_an_unpaid_order_is_not_refunded(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada = await env.tokens.user()
    admin = await env.tokens.admin()
    order = await env.placed(ada, (product, 1))
    problem(await refund(env, admin, order["id"], reason="x"), 409, "order-not-paid")
    problem(await refund(env, admin, str(uuid.uuid4()), reason="x"), 404)
    assert await env.db.fetchval("SELECT count(*) FROM refunds") == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"amount": 0, "reason": "r"},
        {"amount": -5, "reason": "r"},
        {"amount": "100", "reason": "r"},
        {"amount": True, "reason": "r"},
        {"amount": 1.5, "reason": "r"},
        {"amount": 100, "reason": "r" * 501},
        {"amount": 100, "reason": "r", "currency": "USD"},
        {"reason": "nul \u0000"},
    ],
)
async def test_a_bad_refund_body_is_a_422(env: OrdersEnv, body: dict[str, Any]) -> None:
    order = await paid_order(env)
    admin = await env.tokens.admin()
    problem(await refund(env, admin, order["id"], **body), 422)
    assert await env.db.fetchval("SELECT count(*) FROM refunds") == 0


async def test_the_same_key_refunds_once(env: OrdersEnv) -> None:
    order = await paid_order(env)
    admin = await env.tokens.admin()
    first = await refund(env, admin, order["id"], key="refund-1", amount=700, reason="late")
    assert first.status_code == 201, first.text
    again = await refund(env, admin, order["id"], key="refund-1", amount=700, reason="late")
    assert (again.status_code, again.json()) == (201, first.json())
    other = await refund(env, admin, order["id"], key="refund-1", amount=800, reason="late")
    problem(other, 422, "idempotency-key-reused")
    assert await env.db.fetchval("SELECT count(*) FROM refunds") == 1
    assert await books_of_money(env, order["id"]) == (5000, 700, 700)


async def test_ten_admins_refunding_everything_at_once_refund_it_once(env: OrdersEnv) -> None:
    order = await paid_order(env, price=1999, quantity=3)
    admins = [await env.tokens.admin() for _ in range(RACERS)]
    barrier = asyncio.Barrier(RACERS)

    async def race(admin: User) -> httpx.Response:
        await barrier.wait()  # every request is under way before any is answered
        return await refund(env, admin, order["id"], reason="refund it all")

    answers = await asyncio.wait_for(asyncio.gather(*[race(a) for a in admins]), 120)

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * (RACERS - 1), [a.text for a in answers]
    assert all(
        a.json()["type"].endswith("/refund-exceeds-payment")
        for a in answers
        if a.status_code == 409
    )
    paid, refunded, promised = await books_of_money(env, order["id"])
    assert paid == refunded == promised == 5997
    assert await env.db.fetchval("SELECT count(*) FROM refunds") == 1
    row = await env.order_row(order["id"])
    assert row["payment_status"] == "refunded"


async def test_cancelling_a_paid_order_refunds_what_is_left_and_frees_its_stock(
    env: OrdersEnv,
) -> None:
    order = await paid_order(env, price=2500, quantity=2)
    admin = await env.tokens.admin()
    customer: User = order["customer"]
    product: uuid.UUID = order["product_id"]
    assert await env.books.levels(product) == (8, 0)
    partial = await refund(env, admin, order["id"], amount=500, reason="a late delivery")
    assert partial.status_code == 201

    cancelled = await env.cancel(customer, order["id"])

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["payment_status"]) == ("cancelled", "refunded")
    assert [(r["amount"], r["status"]) for r in body["refunds"]] == [
        (500, "succeeded"),
        (4500, "succeeded"),
    ]
    assert body["refunds"][1]["reason"] == "order cancelled by the customer"
    assert await env.books.levels(product) == (10, 0)
    assert await books_of_money(env, order["id"]) == (5000, 5000, 5000)
    await env.assert_books_agree(product)
    assert await env.db.fetchval("SELECT automatic FROM refunds WHERE amount = 4500")


async def test_cancelling_an_unpaid_order_refunds_nothing(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada = await env.tokens.user()
    order = await env.placed(ada, (product, 2))
    admin = await env.tokens.admin()
    cancelled = await env.cancel(admin, order["id"])
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["refunds"] == []
    # Nothing is owed any more, and the payment can no longer be marked received.
    assert (body["payment_status"], body["payment"]["status"]) == ("not_required", "cancelled")
    assert await env.db.fetchval("SELECT count(*) FROM refunds") == 0
    assert await env.books.levels(product) == (5, 0)


async def test_the_reconciler_finishes_a_refund_a_crash_left_pending(env: OrdersEnv) -> None:
    order = await paid_order(env, price=1000, quantity=3)
    orders = env.app.state.orders
    # A request that recorded its refund, then died before asking the provider.
    async with unit_of_work(orders.sessionmaker) as session:
        locked = await OrderRepository(session).lock(uuid.UUID(order["id"]))
        assert locked is not None
        pending = await refunds.open_refund(
            session, locked, amount=1000, reason="one was broken", actor="admin:test"
        )
    seen = (await env.get(order["customer"], order["id"])).json()
    assert [(r["amount"], r["status"]) for r in seen["refunds"]] == [(1000, "pending")]
    assert seen["payment_status"] == "paid"
    # While pending, it counts: what is left to refund is the rest.
    admin = await env.tokens.admin()
    over = await refund(env, admin, order["id"], amount=2001, reason="more")
    assert problem(over, 409, "refund-exceeds-payment")["remaining"] == 2000

    # A fresh pending refund may still be finishing in its request: left alone.
    assert (await env.reconcile()).refunds_finished == 0
    await env.db.execute(
        "UPDATE refunds SET created_at = now() - interval '5 minutes' WHERE id = $1", pending.id
    )
    assert (await env.reconcile()).refunds_finished == 1

    seen = (await env.get(order["customer"], order["id"])).json()
    assert [(r["amount"], r["status"]) for r in seen["refunds"]] == [(1000, "succeeded")]
    assert seen["payment_status"] == "partially_refunded"
    assert await books_of_money(env, order["id"]) == (3000, 1000, 1000)
    assert (await env.reconcile()).refunds_finished == 0  # nothing left to do
    subjects = [
        row["subject"]
        for row in await env.db.fetch("SELECT payload->>'subject' AS subject FROM outbox")
    ]
    assert subjects.count(f"A refund for your order {order['number']}") == 1


async def test_the_reconciler_refunds_a_cancelled_order_that_kept_its_money(
    env: OrdersEnv,
) -> None:
    order = await paid_order(env, price=1500, quantity=1)
    # Cancelled by a path that refunds nothing itself (its stock hold lost, say).
    await env.db.execute(
        "UPDATE orders SET status = 'cancelled' WHERE id = $1", uuid.UUID(order["id"])
    )

    assert (await env.reconcile()).refunds_finished == 1

    seen = (await env.get(order["customer"], order["id"])).json()
    assert seen["payment_status"] == "refunded"
    assert [(r["amount"], r["reason"]) for r in seen["refunds"]] == [(1500, "order cancelled")]
    assert await books_of_money(env, order["id"]) == (1500, 1500, 1500)
    assert (await env.reconcile()).refunds_finished == 0


async def test_mark_paid_refunds_and_a_paid_cancel_through_the_gateway(
    databases: Databases, tokens: Tokens, tmp_path: Path, products_url: str, books: Books
) -> None:
    product = await books.product(10, price=2000)
    ada = await tokens.user()
    admin = await tokens.admin()
    settings = orders_settings(databases, tokens, tmp_path / "orders", products_url)
    try:
        async with behind_gateway(settings, products_url, tokens, read_seconds=30) as client:
            placed = await client.post(
                "/orders", json=order_body((product, 2)), headers=ada.headers
            )
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["id"]
            paid = await client.post(f"/orders/{order_id}/payment/mark-paid", headers=admin.headers)
            assert (paid.status_code, paid.json()["payment_status"]) == (200, "paid")
            keyed = {**admin.headers, "Idempotency-Key": "gateway-refund"}
            body = {"amount": 1500, "reason": "late"}
            made = await client.post(f"/orders/{order_id}/refunds", json=body, headers=keyed)
            again = await client.post(f"/orders/{order_id}/refunds", json=body, headers=keyed)
            assert made.status_code == again.status_code == 201, made.text
            assert made.json() == again.json()
            awaiting = await client.get(
                "/orders", params={"payment_status": "partially_refunded"}, headers=admin.headers
            )
            assert [o["id"] for o in awaiting.json()["items"]] == [order_id]

            cancelled = await client.post(f"/orders/{order_id}/cancel", headers=ada.headers)

            assert cancelled.status_code == 200, cancelled.text
            seen = cancelled.json()
            assert (seen["status"], seen["payment_status"]) == ("cancelled", "refunded")
            assert [r["amount"] for r in seen["refunds"]] == [1500, 2500]
            assert await books.levels(product) == (10, 0)
    finally:
        await truncate_orders(databases)
