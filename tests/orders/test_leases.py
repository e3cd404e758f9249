"""Idempotency-Key leases: a request that died (its process killed) leaves its key in
progress; a repeat after the lease ended answers from its order, or takes the key over.

Each test leaves the database as a crash at that point leaves it, by running the
placement's own steps up to there (or inserting the key as the claim writes it), and
then lets the lease end (its end moved to the past). Against real PostgreSQL and a real
products service."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shop.kit.db import unit_of_work
from shop.kit.identity import Identity
from shop.orders import idempotency, placement
from shop.orders.context import Orders
from shop.orders.errors import InsufficientStockError
from shop.orders.schemas import PlaceOrderIn
from tests.orders.conftest import EnvFactory
from tests.orders.support import OrdersEnv, User, order_body
from tests.products.reservation_support import problem


def _identity(user: User) -> Identity:
    return Identity(user.user_id, uuid.uuid4(), "t", user.email, True, frozenset({"customer"}))


def _body(*lines: tuple[uuid.UUID, int]) -> PlaceOrderIn:
    return PlaceOrderIn.model_validate(order_body(*lines))


async def _claimed(env: OrdersEnv, user: User, key: str, body: PlaceOrderIn) -> idempotency.Lease:
    """The key as a placement's claim leaves it: in progress, under a live lease."""
    orders: Orders = env.app.state.orders
    digest = idempotency.request_hash("place", body.idempotency_request())
    async with unit_of_work(orders.sessionmaker) as session:
        claim = await idempotency._claim(session, user.user_id, key, "place", digest, 3600, 60)
    assert claim.lease is not None
    return claim.lease


async def _lease_ends(env: OrdersEnv) -> None:
    await env.db.execute("UPDATE idempotency_keys SET lease_expires_at = now() - interval '1 s'")


async def _key(env: OrdersEnv) -> Any:
    row = await env.db.fetchrow("SELECT * FROM idempotency_keys")
    assert row is not None
    return row


async def test_a_key_whose_request_died_before_recording_an_order_is_taken_over(
    env: OrdersEnv,
) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    await _claimed(env, ada, "died-early", _body((product, 2)))  # then the process died

    # While its lease lasts, the request may still be running.
    problem(
        await env.place(ada, (product, 2), key="died-early"), 409, "idempotency-key-in-progress"
    )
    assert await env.order_count() == 0

    await _lease_ends(env)
    taken_over = await env.place(ada, (product, 2), key="died-early")

    assert taken_over.status_code == 201, taken_over.text
    again = await env.place(ada, (product, 2), key="died-early")
    assert (again.status_code, again.json()) == (201, taken_over.json())
    assert await env.order_count() == 1
    key = await _key(env)
    assert (key["state"], str(key["order_id"])) == ("done", taken_over.json()["id"])
    assert await env.books.levels(product) == (8, 0)


async def test_a_request_that_outlived_its_lease_records_no_second_order(
    env: OrdersEnv,
) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    body = _body((product, 1))
    slow = await _claimed(env, ada, "slow", body)
    await _lease_ends(env)
    taken_over = await env.place(ada, (product, 1), key="slow")
    assert taken_over.status_code == 201

    # The first request wakes up and goes on: its key is no longer its own.
    orders: Orders = env.app.state.orders
    identity = _identity(ada)
    with pytest.raises(idempotency.LeaseLostError):
        await placement.place_order(orders, identity, body, slow)

    assert await env.order_count() == 1
    assert (await env.place(ada, (product, 1), key="slow")).json() == taken_over.json()
    assert await env.books.levels(product) == (9, 0)


async def test_a_placement_stores_its_answer_with_the_confirmation(env: OrdersEnv) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    body = _body((product, 3))
    lease = await _claimed(env, ada, "confirmed", body)
    order = await placement.place_order(env.app.state.orders, _identity(ada), body, lease)
    # The process may die now: the key already holds the answer, committed with the order.
    key = await _key(env)
    assert (key["state"], key["order_id"], key["response_status"]) == ("done", order.id, 201)
    assert lease.answered

    again = await env.place(ada, (product, 3), key="confirmed")

    assert (again.status_code, again.json()) == (201, json.loads(key["response_body"]))
    assert again.json()["id"] == str(order.id)
    assert again.json()["status"] == "confirmed"
    assert [entry["status"] for entry in again.json()["history"]] == ["pending", "confirmed"]
    assert await env.order_count() == 1


async def test_a_key_whose_request_died_after_confirming_answers_with_the_order(
    env: OrdersEnv,
) -> None:
    """A key left in progress with a placed order (as a release that stored answers
    after the confirmation left it when its process died in between)."""
    product = await env.books.product(10)
    ada = await env.tokens.user()
    body = _body((product, 3))
    lease = await _claimed(env, ada, "died-late", body)
    order = await placement.place_order(env.app.state.orders, _identity(ada), body, None)
    await env.db.execute("UPDATE idempotency_keys SET order_id = $1", order.id)
    key = await _key(env)
    assert (key["state"], key["order_id"], key["lease_token"]) == (
        "in_progress",
        order.id,
        lease.token,
    )
    problem(await env.place(ada, (product, 3), key="died-late"), 409, "idempotency-key-in-progress")

    await _lease_ends(env)
    answer = await env.place(ada, (product, 3), key="died-late")

    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] == str(order.id)
    assert answer.headers["location"] == f"/api/v1/orders/{order.id}"
    assert answer.json() == (await env.get(ada, str(order.id))).json()
    assert await env.order_count() == 1
    assert (await _key(env))["state"] == "done"
    assert (await env.place(ada, (product, 3), key="died-late")).json() == answer.json()
    assert await env.books.levels(product) == (7, 0)


async def test_a_key_whose_order_was_left_pending_waits_for_the_reconciler(
    env: OrdersEnv,
) -> None:
    product = await env.books.product(10)
    ada = await env.tokens.user()
    body = _body((product, 2))
    lease = await _claimed(env, ada, "died-pending", body)
    orders: Orders = env.app.state.orders
    order_id = await placement._record_pending(
        orders, placement.order_request(_identity(ada), body), lease
    )
    # The process died here, before products was called.
    await _lease_ends(env)

    # The order may still be placed (younger than the placement deadline): wait.
    problem(
        await env.place(ada, (product, 2), key="died-pending"), 409, "idempotency-key-in-progress"
    )
    await env.db.execute("UPDATE orders SET created_at = now() - interval '1 hour'")
    assert (await env.reconcile()).cancelled == 1

    answer = problem(
        await env.place(ada, (product, 2), key="died-pending"), 409, "order-not-placed"
    )

    assert await env.order_count() == 1
    row = await env.order_row(order_id)
    assert (row["status"], row["placed"], row["stock_state"]) == ("cancelled", False, "released")
    assert (await _key(env))["state"] == "done"
    assert problem(await env.place(ada, (product, 2), key="died-pending"), 409) == answer
    assert await env.books.levels(product) == (10, 0)


async def test_a_repeat_past_the_deadline_settles_the_pending_order_itself(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, placement_deadline_seconds=0) as env:
        product = await env.books.product(10)
        ada = await env.tokens.user()
        body = _body((product, 2))
        lease = await _claimed(env, ada, "died-reserving", body)
        orders: Orders = env.app.state.orders
        identity = _identity(ada)
        order_id = await placement._record_pending(
            orders, placement.order_request(identity, body), lease
        )
        await orders.products.reserve(order_id, [(product, 2)])  # then the process died
        assert await env.books.levels(product) == (10, 2)
        await _lease_ends(env)

        problem(await env.place(ada, (product, 2), key="died-reserving"), 409, "order-not-placed")

        row = await env.order_row(order_id)
        assert (row["status"], row["placed"], row["stock_state"]) == (
            "cancelled",
            False,
            "released",
        )
        assert await env.books.levels(product) == (10, 0)  # the hold was given back
        assert await env.order_count() == 1
        await env.assert_books_agree(product)


async def test_a_key_whose_order_was_refused_answers_with_the_refusal(env: OrdersEnv) -> None:
    product = await env.books.product(1)
    ada = await env.tokens.user()
    body = _body((product, 2))
    lease = await _claimed(env, ada, "died-refused", body)
    with pytest.raises(InsufficientStockError):
        await placement.place_order(env.app.state.orders, _identity(ada), body, lease)
    # ... and the process died before storing the refusal.
    await _lease_ends(env)

    answer = problem(
        await env.place(ada, (product, 2), key="died-refused"), 409, "insufficient-stock"
    )

    assert await env.order_count() == 1
    assert (await _key(env))["state"] == "done"
    assert problem(await env.place(ada, (product, 2), key="died-refused"), 409) == answer
    assert await env.books.levels(product) == (1, 0)
