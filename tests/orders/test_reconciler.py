"""The reconciler finishes every saga: crashes and timeouts between any two steps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from shop.kit.contracts.reservations import ReservationOut
from shop.orders.products_client import ProductsClient
from shop.orders.reconciler import Reconciler
from tests.orders.conftest import EnvFactory
from tests.orders.support import SERVICE_TOKEN, OrdersEnv
from tests.products.reservation_support import problem

SERVICE = {"X-Service-Token": SERVICE_TOKEN}


async def test_a_reservation_arriving_after_the_placement_gave_up_is_given_back(
    make_env: EnvFactory, dead_url: str, products_url: str
) -> None:
    async with make_env(dead_url, placement_deadline_seconds=0) as env:
        product = await env.books.product(5)
        ada = await env.tokens.user()
        problem(await env.place(ada, (product, 2)), 503)
        order_id = await env.db.fetchval("SELECT id FROM orders")
        # Products comes back, and the reserve that was on its way gets through.
        products = env.app.state.orders.products
        products.instances.urls = [products_url]
        late = await products.reserve(order_id, [(product, 2)])
        assert late.status == "held"
        assert await env.books.levels(product) == (5, 2)

        done = await env.reconcile()

        assert (done.cancelled, done.given_back) == (1, 1)
        assert await env.books.levels(product) == (5, 0)
        row = await env.order_row(order_id)
        assert (row["status"], row["placed"], row["stock_state"]) == (
            "cancelled",
            False,
            "released",
        )
        await env.assert_books_agree(product)
        assert await env.reconcile() == type(done)()  # nothing left to do


async def test_a_release_before_the_reserve_leaves_a_tombstone(
    make_env: EnvFactory, dead_url: str, products_url: str
) -> None:
    async with make_env(dead_url, placement_deadline_seconds=0) as env:
        product = await env.books.product(5)
        ada = await env.tokens.user()
        problem(await env.place(ada, (product, 1)), 503)
        order_id = await env.db.fetchval("SELECT id FROM orders")
        env.app.state.orders.products.instances.urls = [products_url]

        assert (await env.reconcile()).given_back == 1

        late = await env.app.state.orders.products.http.put(
            env.app.state.orders.products.instances.urls[0]
            + f"/internal/v1/reservations/{order_id}",
            json={"lines": [{"product_id": str(product), "quantity": 1}]},
            headers=SERVICE,
        )
        problem(late, 409, "reservation-released")
        assert await env.books.levels(product) == (5, 0)


def hold_only(products: ProductsClient) -> None:
    """Products answers reserves with a hold only (as a products instance that does not
    take units at once would): placed orders are confirmed with their units held."""
    reserve = products.reserve

    async def hold(
        order_id: uuid.UUID,
        items: Sequence[tuple[uuid.UUID, int]],
        *,
        commit: bool = False,
        hold_seconds: int | None = None,
    ) -> ReservationOut:
        return await reserve(order_id, items)

    products.reserve = hold  # type: ignore[method-assign]


async def test_units_only_held_at_confirmation_are_committed_later(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada = await env.tokens.user()
    products = env.app.state.orders.products
    hold_only(products)
    order = await env.placed(ada, (product, 2))
    del products.reserve
    assert order["status"] == "confirmed"  # the customer's order stands
    assert (await env.order_row(order["id"]))["stock_state"] == "held"
    assert await env.books.levels(product) == (5, 2)

    assert (await env.reconcile()).committed == 1

    assert await env.books.levels(product) == (3, 0)
    assert (await env.order_row(order["id"]))["stock_state"] == "committed"
    await env.assert_books_agree(product)


async def test_a_crash_before_recording_the_commit_is_resumed(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    order = await env.placed(await env.tokens.user(), (product, 1))
    await env.db.execute("UPDATE orders SET stock_state = 'held'")  # as if it had crashed

    assert (await env.reconcile()).committed == 1  # products answers the commit again

    assert (await env.order_row(order["id"]))["stock_state"] == "committed"
    assert await env.books.levels(product) == (4, 0)


async def test_a_hold_that_lapsed_before_its_commit_cancels_the_order(env: OrdersEnv) -> None:
    product = await env.books.product(5)
    ada = await env.tokens.user()
    products = env.app.state.orders.products
    hold_only(products)
    order = await env.placed(ada, (product, 2))
    del products.reserve
    await env.books.age(uuid.UUID(order["id"]))  # products' sweeper may release it now

    done = await env.reconcile()

    assert (done.committed, done.given_back) == (0, 1)  # cancelled, then given back
    seen = (await env.get(ada, order["id"])).json()
    assert seen["status"] == "cancelled"
    assert seen["history"][-1]["note"] == "the stock hold lapsed before it was committed"
    assert await env.books.levels(product) == (5, 0)
    await env.assert_books_agree(product)


async def test_several_reconcilers_at_once_cancel_each_order_once(
    make_env: EnvFactory, dead_url: str
) -> None:
    async with make_env(
        dead_url, placement_deadline_seconds=0, products_breaker_failures=100
    ) as env:
        ada = await env.tokens.user()
        for _ in range(6):
            problem(await env.place(ada, (uuid.uuid4(), 1)), 503)
        orders = env.app.state.orders
        # Products is unreachable: the stock steps fail and are left for later.
        rounds = await asyncio.gather(
            *[Reconciler(orders, batch_size=2).run_once() for _ in range(4)]
        )

        assert sum(r.cancelled for r in rounds) == 6
        assert await env.db.fetchval("SELECT count(*) FROM orders WHERE status = 'pending'") == 0
        cancellations = await env.db.fetch(
            "SELECT order_id, count(*) AS n FROM order_events WHERE status = 'cancelled'"
            " GROUP BY order_id"
        )
        assert len(cancellations) == 6
        assert {row["n"] for row in cancellations} == {1}
