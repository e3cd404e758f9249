"""Several products instances (PRODUCTS_URLS): one stopped, placements still succeed."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from pathlib import Path

from shop.orders.config import OrdersSettings
from shop.products.app import create_app as create_products_app
from tests.orders.conftest import EnvFactory
from tests.orders.support import Tokens, products_settings
from tests.support import Databases, served


def test_products_urls_is_a_list_and_products_url_its_single_alias() -> None:
    url = "postgresql://u:p@127.0.0.1:5432/orders_db"
    only = OrdersSettings(
        ORDERS_DATABASE_URL=url, products_url="http://products:3002/", _env_file=None
    )
    assert only.products_instances == ["http://products:3002"]
    both = OrdersSettings(
        ORDERS_DATABASE_URL=url,
        products_url="http://products:3002",
        products_urls="http://a:3002/, http://b:3004,http://a:3002",
        _env_file=None,
    )
    assert both.products_instances == ["http://a:3002", "http://b:3004"]


async def test_a_stopped_instance_is_failed_over_and_placements_succeed(
    make_env: EnvFactory, databases: Databases, tokens: Tokens, tmp_path: Path
) -> None:
    with ExitStack() as first_instance:
        first = first_instance.enter_context(
            served(create_products_app(products_settings(databases, tokens, tmp_path / "p1")))
        )
        with served(
            create_products_app(products_settings(databases, tokens, tmp_path / "p2"))
        ) as second:
            # A generous breaker: a refusal failed over must not count as a failure.
            async with make_env(
                first,
                products_urls=[first, second],
                products_breaker_failures=2,
                products_eject_seconds=600,
            ) as env:
                product = await env.books.product(20)
                ada = await env.tokens.user()
                assert (await env.place(ada, (product, 1))).status_code == 201

                first_instance.close()  # the first products instance stops

                placed = []
                for number in range(6):
                    response = await env.place(ada, (product, 1), key=f"after-stop-{number}")
                    assert response.status_code == 201, response.text
                    placed.append(response.json()["id"])
                    assert response.json()["status"] == "confirmed"
                assert len(set(placed)) == 6
                products = env.app.state.orders.products
                assert not products.breaker_open
                assert products.instances.ejected() == [first]
                assert await env.books.levels(product) == (13, 0)
                rows = await env.db.fetch("SELECT status, stock_state FROM orders")
                assert {(r["status"], r["stock_state"]) for r in rows} == {
                    ("confirmed", "committed")
                }
                await env.assert_books_agree(product)


async def test_every_instance_down_is_still_503_and_opens_the_breaker(
    make_env: EnvFactory, dead_url: str
) -> None:
    other_dead = dead_url.rsplit(":", 1)[0] + ":9"
    async with make_env(
        dead_url, products_urls=[dead_url, other_dead], products_breaker_failures=3
    ) as env:
        ada = await env.tokens.user()
        response = await env.place(ada, (uuid.uuid4(), 1))
        assert response.status_code == 503
        assert env.app.state.orders.products.breaker_open  # three attempts, each all refused
