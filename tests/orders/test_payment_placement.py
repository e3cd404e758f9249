"""How the payment provider shapes placement: a manual order is confirmed awaiting
payment (nothing to pay for a total of 0); at most MAX_UNPAID_ORDERS unpaid manual
orders a user, however many placements race; a refused code at POST /orders names
``promotion_code``; stripe enabled without its keys refuses to start."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from tests.kit.service_process import clean_environment, shop_serve
from tests.orders.conftest import EnvFactory
from tests.orders.support import OrdersEnv

RACERS = 10
MOST = 3


async def test_a_manual_order_is_confirmed_awaiting_payment(env: OrdersEnv) -> None:
    product = await env.books.product(10, price=1500)
    free = await env.books.product(10, price=0)
    user = await env.tokens.user()

    order = await env.placed(user, (product, 2))
    gift = await env.placed(user, (free, 1))

    assert (order["status"], order["payment_status"]) == ("confirmed", "awaiting")
    assert order["payment"] == {
        "provider": "manual",
        "status": "awaiting",
        "amount": 3000,
        "currency": "USD",
        "client_secret": None,
        "paid_at": None,
        "last_error": None,
    }
    assert order["refunds"] == []
    assert (gift["status"], gift["payment_status"]) == ("confirmed", "not_required")
    assert gift["payment"]["amount"] == 0
    assert await env.books.levels(product) == (8, 0)


async def test_at_most_max_unpaid_orders_however_many_race(
    make_env: EnvFactory, products_url: str
) -> None:
    async with make_env(products_url, max_unpaid_orders=MOST) as env:
        product = await env.books.product(100, price=1000)
        user = await env.tokens.user()

        answers = await asyncio.gather(*[env.place(user, (product, 1)) for _ in range(RACERS)])

        codes = sorted(answer.status_code for answer in answers)
        assert codes == [201] * MOST + [409] * (RACERS - MOST), [a.text for a in answers]
        refused = next(answer for answer in answers if answer.status_code == 409)
        assert refused.json()["type"].endswith("/too-many-unpaid-orders")
        assert refused.json()["max_unpaid_orders"] == MOST
        assert await env.books.levels(product) == (100 - MOST, 0)
        # A cancelled order owes nothing: it no longer counts.
        placed = next(answer.json() for answer in answers if answer.status_code == 201)
        assert (await env.cancel(user, placed["id"])).status_code == 200
        assert (await env.place(user, (product, 1))).status_code == 201
        await env.reconcile()
        await env.assert_books_agree(product)


async def test_a_refused_code_at_post_orders_names_promotion_code(env: OrdersEnv) -> None:
    product = await env.books.product(10, price=1000)
    user = await env.tokens.user()

    refused = await env.place(user, (product, 1), promotion_code="NO-SUCH-CODE")

    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["promotion_code"]
    assert await env.books.levels(product) == (10, 0)


def test_stripe_enabled_without_its_keys_refuses_to_start(tmp_path: Path) -> None:
    env = clean_environment(
        ORDERS_DATABASE_URL="postgresql://shop:pw@127.0.0.1:1/unused",
        ORDERS_PORT="0",
        PAYMENT_PROVIDERS="manual,stripe",
        STRIPE_SECRET_KEY="sk_test_only_one_of_the_two",
    )
    env.pop("STRIPE_WEBHOOK_SECRET", None)

    result = subprocess.run(
        shop_serve("orders"), env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False
    )

    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 3, output
    assert "shop serve orders: refusing to start" in output
    assert "STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must both be set" in output
    assert "sk_test_only_one_of_the_two" not in output
    assert "Traceback" not in output
