"""Faults inside one placement, staged between the saga's steps (in-process orders app in
front of the real products service, as in tests/orders)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy.exc

from shop.kit.contracts.reservations import ReservationOut
from shop.orders.products_client import ProductsUnavailableError
from shop.orders.repository import OrderRepository
from tests.orders.conftest import EnvFactory
from tests.orders.support import OrdersEnv
from tests.products.reservation_support import problem


async def test_units_taken_whose_answer_was_lost_are_given_back_and_nothing_is_sent(
    make_env: EnvFactory, products_url: str
) -> None:
    """Products takes the units off the shelf, but its answer never arrives: the client
    gets a 503 and no email is queued; the reconciler cancels the pending order and puts
    the units back; the same Idempotency-Key then places the order once."""
    async with make_env(products_url, placement_deadline_seconds=0) as env:
        product = await env.books.product(5)
        ada = await env.tokens.user()
        products = env.app.state.orders.products
        reserve = products.reserve

        async def answer_lost(
            order_id: uuid.UUID,
            items: Sequence[tuple[uuid.UUID, int]],
            *,
            commit: bool = False,
            hold_seconds: int | None = None,
        ) -> ReservationOut:
            await reserve(order_id, items, commit=commit, hold_seconds=hold_seconds)
            raise ProductsUnavailableError("read timed out")

        products.reserve = answer_lost
        try:
            problem(await env.place(ada, (product, 2), key="lost"), 503)
        finally:
            del products.reserve

        [row] = await env.db.fetch("SELECT * FROM orders")
        assert (row["status"], row["placed"]) == ("pending", False)
        assert await env.books.levels(product) == (3, 0)  # taken, for an order not placed
        assert await env.db.fetchval("SELECT count(*) FROM outbox") == 0

        done = await env.reconcile()

        assert (done.cancelled, done.given_back) == (1, 1)
        assert await env.books.levels(product) == (5, 0)
        [row] = await env.db.fetch("SELECT * FROM orders")
        assert (row["status"], row["placed"], row["stock_state"]) == (
            "cancelled",
            False,
            "released",
        )
        assert (await env.client.get("/api/v1/orders", headers=ada.headers)).json()["items"] == []
        await env.assert_books_agree(product)
        # The 503 was not remembered with the key: the retry places the order, once.
        placed = await env.place(ada, (product, 2), key="lost")
        assert placed.status_code == 201, placed.text
        assert (await env.place(ada, (product, 2), key="lost")).json() == placed.json()
        assert (await env.order_row(placed.json()["id"]))["stock_state"] == "committed"
        assert await env.books.levels(product) == (3, 0)
        assert await env.db.fetchval("SELECT count(*) FROM outbox") == 1


async def test_an_earlier_attempts_lapsed_hold_refuses_the_order_and_sends_nothing(
    env: OrdersEnv,
) -> None:
    """An earlier attempt of the reserve call held the units (as a products instance
    that only holds would) and the hold lapsed: the placement's reserve-and-commit is
    refused, the order is cancelled and refused with a 409, and the reconciler puts the
    held units back."""
    product = await env.books.product(5)
    ada = await env.tokens.user()
    products = env.app.state.orders.products
    reserve = products.reserve

    async def after_a_lapsed_hold(
        order_id: uuid.UUID,
        items: Sequence[tuple[uuid.UUID, int]],
        *,
        commit: bool = False,
        hold_seconds: int | None = None,
    ) -> ReservationOut:
        await reserve(order_id, items)  # the earlier attempt: a hold only
        await env.books.age(order_id)
        return await reserve(order_id, items, commit=commit, hold_seconds=hold_seconds)

    products.reserve = after_a_lapsed_hold
    try:
        problem(await env.place(ada, (product, 2), key="lapsed"), 409, "stock-hold-lapsed")
    finally:
        del products.reserve

    [row] = await env.db.fetch("SELECT * FROM orders")
    assert (row["status"], row["placed"]) == ("cancelled", False)
    assert await env.db.fetchval("SELECT count(*) FROM outbox") == 0
    assert await env.books.levels(product) == (5, 2)  # the lapsed hold, until given back
    assert (await env.reconcile()).given_back == 1
    assert await env.books.levels(product) == (5, 0)
    await env.assert_books_agree(product)
    # The refusal is remembered with its key.
    problem(await env.place(ada, (product, 2), key="lapsed"), 409, "stock-hold-lapsed")


async def test_a_cancel_cut_off_by_an_outage_after_it_committed_still_answers_200(
    env: OrdersEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel commits, products takes the units back, then PostgreSQL is unreachable
    for the step that records it: the client gets 200 (a 503 would be retried into a 409,
    already cancelled), and the reconciler records the give-back later."""
    product = await env.books.product(5)
    ada = await env.tokens.user()
    order = await env.placed(ada, (product, 2))
    recorded = OrderRepository.set_stock_state
    outage = sqlalchemy.exc.OperationalError("UPDATE orders", None, OSError("refused"))

    async def unreachable_once(self: OrderRepository, *args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(OrderRepository, "set_stock_state", recorded)
        raise outage

    monkeypatch.setattr(OrderRepository, "set_stock_state", unreachable_once)

    cancelled = await env.cancel(ada, order["id"])

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert (await env.order_row(order["id"]))["stock_state"] == "committed"  # not recorded
    assert await env.books.levels(product) == (5, 0)  # but the units are back
    assert (await env.reconcile()).given_back == 1
    assert (await env.order_row(order["id"]))["stock_state"] == "released"
    await env.assert_books_agree(product)
