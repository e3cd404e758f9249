"""The internal reservation API, through the real products app over ASGI."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from shop.gateway.upstreams import ROUTES
from shop.kit.service_auth import SERVICE_TOKEN_HEADER, service_headers
from shop.products.cache import GENERATION_KEY, STOCK_GENERATION_KEY, STOCK_STAMP_PREFIX
from shop.products.errors import ReservationReleasedError
from shop.products.models import Inventory, Product, ProductStatus, StockReason
from shop.products.reservations import release, reserve
from tests.kit.identity_support import JwksServer, SigningKey, live_token
from tests.products.reservation_support import (
    API,
    SERVICE,
    SERVICE_TOKEN,
    ReservationsEnv,
    problem,
    reservations_env,
)
from tests.support import Databases


@pytest.fixture
async def env(
    databases: Databases, redis_url: str, tmp_path: Path
) -> AsyncIterator[ReservationsEnv]:
    async with reservations_env(databases, redis_url, tmp_path) as running:
        yield running


# --- reserve ----------------------------------------------------------------------


async def test_a_reservation_holds_stock_with_the_catalogs_prices_names_and_skus(
    env: ReservationsEnv,
) -> None:
    lamp = await env.books.product(5, price=4500, name="Desk Lamp")
    mug = await env.books.product(10, price=1250, name="Coffee Mug")
    order_id = uuid.uuid4()

    response = await env.reserve(order_id, (mug, 3), (lamp, 1))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["order_id"] == str(order_id)
    assert body["status"] == "held"
    lines = {line["product_id"]: line for line in body["lines"]}
    for product_id, quantity in ((lamp, 1), (mug, 3)):
        entry = await env.books.catalog_entry(product_id)
        assert lines[str(product_id)] == {
            "product_id": str(product_id),
            "variant_id": await env.books.variant(product_id),
            "sku": entry.sku,
            "name": entry.name,
            "variant_title": "",
            "unit_price": entry.price,
            "currency": entry.currency,
            "quantity": quantity,
        }
    assert await env.books.levels(lamp) == (5, 1)
    assert await env.books.levels(mug) == (10, 3)
    reserved_rows = await env.books.ledger(order_id=order_id)
    assert sorted((m.product_id, m.on_hand_delta, m.reserved_delta) for m in reserved_rows) == (
        sorted([(lamp, 0, 1), (mug, 0, 3)])
    )
    assert {(m.reason, m.actor) for m in reserved_rows} == {(StockReason.RESERVATION, "service")}
    await env.books.assert_balanced(lamp, mug)

    read = await env.get(order_id)
    assert read.status_code == 200
    assert read.json() == body


async def test_ttl_comes_from_the_settings(
    databases: Databases, redis_url: str, tmp_path: Path
) -> None:
    async with reservations_env(databases, redis_url, tmp_path, reservation_ttl_seconds=600) as env:
        product = await env.books.product(2)
        order_id = uuid.uuid4()
        assert (await env.reserve(order_id, (product, 1))).status_code == 201
        async with env.books.sessionmaker() as session:
            seconds = await session.scalar(
                text(
                    "SELECT extract(epoch FROM expires_at - created_at) FROM reservations"
                    " WHERE order_id = :id"
                ),
                {"id": order_id},
            )
        assert 599 <= float(seconds) <= 601


async def test_one_short_line_holds_nothing_and_every_short_line_is_listed(
    env: ReservationsEnv,
) -> None:
    plenty = await env.books.product(100)
    few = await env.books.product(2)
    none = await env.books.product(0)
    order_id = uuid.uuid4()

    response = await env.reserve(order_id, (plenty, 5), (few, 3), (none, 1))

    body = problem(response, 409, "insufficient-stock")
    assert sorted(body["errors"], key=lambda e: e["available"]) == [
        {
            "product_id": str(none),
            "variant_id": await env.books.variant(none),
            "requested": 1,
            "available": 0,
        },
        {
            "product_id": str(few),
            "variant_id": await env.books.variant(few),
            "requested": 3,
            "available": 2,
        },
    ]
    for product_id, on_hand in ((plenty, 100), (few, 2), (none, 0)):
        assert await env.books.levels(product_id) == (on_hand, 0)
    assert await env.books.ledger(order_id=order_id) == []
    assert await env.books.reservation(order_id) is None
    problem(await env.get(order_id), 404, "reservation-not-found")

    # Nothing was left behind: the same order may try again once there is stock.
    assert (await env.reserve(order_id, (plenty, 5), (few, 2))).status_code == 201
    await env.books.assert_balanced(plenty, few, none)


async def test_available_counts_what_other_orders_hold(env: ReservationsEnv) -> None:
    product = await env.books.product(5)
    assert (await env.reserve(uuid.uuid4(), (product, 4))).status_code == 201
    short = problem(await env.reserve(uuid.uuid4(), (product, 2)), 409, "insufficient-stock")
    assert short["errors"] == [
        {
            "product_id": str(product),
            "variant_id": await env.books.variant(product),
            "requested": 2,
            "available": 1,
        }
    ]
    assert (await env.reserve(uuid.uuid4(), (product, 1))).status_code == 201
    assert await env.books.levels(product) == (5, 5)
    await env.books.assert_balanced(product)


async def test_unknown_and_inactive_products_are_refused_and_listed(
    env: ReservationsEnv,
) -> None:
    active = await env.books.product(5)
    draft = await env.books.product(5, status=ProductStatus.DRAFT)
    archived = await env.books.product(5, status=ProductStatus.ARCHIVED)
    unknown = uuid.uuid4()
    order_id = uuid.uuid4()

    response = await env.reserve(order_id, (active, 1), (draft, 1), (unknown, 1), (archived, 1))

    body = problem(response, 422, "products-not-orderable")
    assert [(e["field"], e["product_id"], e["reason"]) for e in body["errors"]] == [
        ("lines.1.product_id", str(draft), "draft"),
        ("lines.2.product_id", str(unknown), "unknown"),
        ("lines.3.product_id", str(archived), "archived"),
    ]
    assert all(e["message"] for e in body["errors"])
    for product_id in (active, draft, archived):
        assert await env.books.levels(product_id) == (5, 0)
    assert await env.books.reservation(order_id) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": []}, "lines"),
        ({}, "lines"),
        ({"lines": [{"product_id": "P", "quantity": 0}]}, "lines.0.quantity"),
        ({"lines": [{"product_id": "P", "quantity": 1001}]}, "lines.0.quantity"),
        ({"lines": [{"product_id": "P", "quantity": 1.5}]}, "lines.0.quantity"),
        ({"lines": [{"product_id": "not-a-uuid", "quantity": 1}]}, "lines.0.product_id"),
        ({"lines": [{"product_id": "P", "quantity": 1, "unit_price": 1}]}, "lines.0.unit_price"),
        ({"lines": [{"product_id": "P", "quantity": 1}], "user_id": "x"}, "user_id"),
        (
            {"lines": [{"product_id": "P", "quantity": 1}, {"product_id": "P", "quantity": 2}]},
            "lines",
        ),
        ({"lines": [{"product_id": "P", "quantity": 1}] * 101}, "lines"),
    ],
)
async def test_invalid_bodies_are_refused(
    env: ReservationsEnv, body: dict[str, object], field: str
) -> None:
    product = await env.books.product(5000)
    raw = json.dumps(body).replace('"P"', f'"{product}"')
    response = await env.client.put(
        f"{API}/{uuid.uuid4()}",
        content=raw,
        headers={**SERVICE, "content-type": "application/json"},
    )
    errors = problem(response, 422)["errors"]
    assert any(e["field"].startswith(field) for e in errors), errors
    assert await env.books.levels(product) == (5000, 0)
    assert await env.books.reservation_count() == 0


async def test_a_bad_order_id_is_refused(env: ReservationsEnv) -> None:
    product = await env.books.product(5)
    response = await env.client.put(
        f"{API}/not-an-id",
        json={"lines": [{"product_id": str(product), "quantity": 1}]},
        headers=SERVICE,
    )
    problem(response, 422)
    problem(await env.client.get(f"{API}/not-an-id", headers=SERVICE), 422)


async def test_a_replay_returns_the_first_answer_even_after_the_catalog_changed(
    env: ReservationsEnv,
) -> None:
    product = await env.books.product(3, price=1000, name="Original name")
    other = await env.books.product(3)
    order_id = uuid.uuid4()
    first = await env.reserve(order_id, (product, 2), (other, 1))
    assert first.status_code == 201

    async with env.books.sessionmaker() as session, session.begin():
        await session.execute(
            update(Product)
            .where(Product.id == product)
            .values(price=2500, name="Renamed", version=Product.version + 1)
        )
        # Only one unit is left for anyone else: the replay must not need it again.
        await session.execute(
            update(Inventory).where(Inventory.product_id == product).values(on_hand=2)
        )

    replay = await env.reserve(order_id, (other, 1), (product, 2))  # any order of lines
    assert replay.status_code == 200
    assert replay.json() == first.json()
    [line] = [line for line in replay.json()["lines"] if line["product_id"] == str(product)]
    assert (line["unit_price"], line["name"]) == (1000, "Original name")
    assert await env.books.levels(product) == (2, 2)
    assert await env.books.levels(other) == (3, 1)
    assert len(await env.books.ledger(order_id=order_id)) == 2
    assert await env.books.reservation_count() == 1

    # A new order sees the catalog as it is now.
    fresh = await env.books.product(1, price=777, name="Fresh")
    new = await env.reserve(uuid.uuid4(), (fresh, 1))
    assert new.json()["lines"][0]["unit_price"] == 777


async def test_a_replay_with_other_lines_is_a_conflict(env: ReservationsEnv) -> None:
    product = await env.books.product(10)
    other = await env.books.product(10)
    order_id = uuid.uuid4()
    assert (await env.reserve(order_id, (product, 2))).status_code == 201

    for lines in ([(product, 3)], [(product, 2), (other, 1)], [(other, 2)]):
        body = problem(await env.reserve(order_id, *lines), 409, "reservation-mismatch")
        assert body["order_id"] == str(order_id)
        assert body["reservation_status"] == "held"
    assert await env.books.levels(product) == (10, 2)
    assert await env.books.levels(other) == (10, 0)
    await env.books.assert_balanced(product, other)


async def test_stock_changes_give_the_product_a_new_stamp_not_the_catalog_a_generation(
    env: ReservationsEnv,
) -> None:
    product = await env.books.product(5)
    bystander = await env.books.product(5)
    client = redis.asyncio.Redis.from_url(env.settings.redis_url)

    async def marks() -> tuple[int, int, bytes | None, bytes | None]:
        return (
            int(await client.get(GENERATION_KEY) or 0),
            int(await client.get(STOCK_GENERATION_KEY) or 0),
            await client.get(f"{STOCK_STAMP_PREFIX}{product}"),
            await client.get(f"{STOCK_STAMP_PREFIX}{bystander}"),
        )

    try:
        generation, stock, _, _ = await marks()
        order_id = uuid.uuid4()
        assert (await env.reserve(order_id, (product, 1))).status_code == 201
        after_reserve = await marks()
        assert after_reserve[0] == generation  # the catalog's generation stays
        assert after_reserve[1] > stock
        assert after_reserve[2] is not None
        assert after_reserve[3] is None  # the other product's reads stay cached
        # A replay changes no stock; a refused reservation neither.
        assert (await env.reserve(order_id, (product, 1))).status_code == 200
        assert (await env.reserve(uuid.uuid4(), (product, 9))).status_code == 409
        assert await marks() == after_reserve
        assert (await env.commit(order_id)).status_code == 200
        after_commit = await marks()
        assert after_commit[1] > after_reserve[1]
        assert after_commit[2] != after_reserve[2]
        other = uuid.uuid4()
        assert (await env.reserve(other, (product, 1))).status_code == 201
        mark = await marks()
        assert (await env.release(other)).status_code == 200
        after_release = await marks()
        assert after_release[2] != mark[2]
        assert after_release[0] == generation
        assert after_release[3] is None
    finally:
        await client.aclose()


# --- commit and release -----------------------------------------------------------


async def test_commit_takes_the_units_off_the_shelf_once(env: ReservationsEnv) -> None:
    product = await env.books.product(10)
    other = await env.books.product(4)
    order_id = uuid.uuid4()
    held = (await env.reserve(order_id, (product, 3), (other, 4))).json()

    committed = await env.commit(order_id)
    assert committed.status_code == 200
    assert committed.json() == {**held, "status": "committed"}
    assert await env.books.levels(product) == (7, 0)
    assert await env.books.levels(other) == (0, 0)
    rows = [m for m in await env.books.ledger(order_id=order_id) if m.reason == StockReason.COMMIT]
    assert sorted((m.product_id, m.on_hand_delta, m.reserved_delta) for m in rows) == sorted(
        [(product, -3, -3), (other, -4, -4)]
    )

    again = await env.commit(order_id)
    assert again.status_code == 200
    assert again.json() == committed.json()
    assert await env.books.levels(product) == (7, 0)
    assert len(await env.books.ledger(order_id=order_id)) == 4
    await env.books.assert_balanced(product, other)

    body = problem(await env.release(order_id), 409, "reservation-committed")
    assert body["reservation_status"] == "committed"
    assert (await env.reserve(order_id, (product, 3), (other, 4))).json() == committed.json()
    assert (await env.get(order_id)).json()["status"] == "committed"


async def test_reserve_and_commit_at_once_takes_the_units_in_one_step(
    env: ReservationsEnv,
) -> None:
    product = await env.books.product(10, price=900)
    other = await env.books.product(4)
    order_id = uuid.uuid4()

    taken = await env.reserve(order_id, (product, 3), (other, 4), commit=True)

    assert taken.status_code == 201, taken.text
    body = taken.json()
    assert body["status"] == "committed"
    assert {(line["product_id"], line["quantity"]) for line in body["lines"]} == {
        (str(product), 3),
        (str(other), 4),
    }
    assert await env.books.levels(product) == (7, 0)
    assert await env.books.levels(other) == (0, 0)
    rows = await env.books.ledger(order_id=order_id)
    assert sorted((m.product_id, m.reason, m.on_hand_delta, m.reserved_delta) for m in rows) == (
        sorted([(product, StockReason.COMMIT, -3, 0), (other, StockReason.COMMIT, -4, 0)])
    )
    # A repeat (the answer was lost) takes nothing again and answers the same.
    again = await env.reserve(order_id, (product, 3), (other, 4), commit=True)
    assert (again.status_code, again.json()) == (200, body)
    assert await env.books.levels(product) == (7, 0)
    assert (await env.commit(order_id)).json() == body
    problem(await env.release(order_id), 409, "reservation-committed")
    # Short stock takes nothing, as a hold would.
    short = problem(await env.reserve(uuid.uuid4(), (product, 8), commit=True), 409)
    assert short["errors"] == [
        {
            "product_id": str(product),
            "variant_id": await env.books.variant(product),
            "requested": 8,
            "available": 7,
        }
    ]
    assert await env.books.levels(product) == (7, 0)
    await env.books.assert_balanced(product, other)


async def test_reserve_and_commit_on_a_hold_commits_it_unless_it_lapsed(
    env: ReservationsEnv,
) -> None:
    product = await env.books.product(6)
    held, lapsed = uuid.uuid4(), uuid.uuid4()
    assert (await env.reserve(held, (product, 2))).json()["status"] == "held"
    assert (await env.reserve(lapsed, (product, 1))).status_code == 201
    await env.books.age(lapsed)

    committed = await env.reserve(held, (product, 2), commit=True)
    assert (committed.status_code, committed.json()["status"]) == (200, "committed")
    problem(await env.reserve(lapsed, (product, 1), commit=True), 409, "reservation-expired")

    assert await env.books.levels(product) == (4, 1)  # the lapsed one is the sweeper's
    await env.books.assert_balanced(product)


async def test_release_gives_the_units_back_once(env: ReservationsEnv) -> None:
    product = await env.books.product(6)
    order_id = uuid.uuid4()
    held = (await env.reserve(order_id, (product, 6))).json()
    assert problem(await env.reserve(uuid.uuid4(), (product, 1)), 409)

    released = await env.release(order_id)
    assert released.status_code == 200
    assert released.json() == {**held, "status": "released"}
    assert await env.books.levels(product) == (6, 0)
    [row] = [
        m for m in await env.books.ledger(order_id=order_id) if m.reason == StockReason.RELEASE
    ]
    assert (row.on_hand_delta, row.reserved_delta, row.actor) == (0, -6, "service")

    again = await env.release(order_id)
    assert again.status_code == 200
    assert again.json() == released.json()
    assert await env.books.levels(product) == (6, 0)
    assert len(await env.books.ledger(order_id=order_id)) == 2

    body = problem(await env.commit(order_id), 409, "reservation-released")
    assert body["reservation_status"] == "released"
    problem(await env.reserve(order_id, (product, 6)), 409, "reservation-released")
    assert (await env.reserve(uuid.uuid4(), (product, 6))).status_code == 201
    await env.books.assert_balanced(product)


async def test_an_expired_hold_cannot_be_committed_but_can_be_released(
    env: ReservationsEnv,
) -> None:
    product = await env.books.product(4)
    order_id = uuid.uuid4()
    assert (await env.reserve(order_id, (product, 2))).status_code == 201
    await env.books.age(order_id)

    problem(await env.commit(order_id), 409, "reservation-expired")
    assert await env.books.levels(product) == (4, 2)  # the sweeper's, or a release's, to give back
    assert (await env.release(order_id)).json()["status"] == "released"
    assert await env.books.levels(product) == (4, 0)
    await env.books.assert_balanced(product)


async def test_unknown_orders_are_not_found_for_commit_and_read(env: ReservationsEnv) -> None:
    order_id = uuid.uuid4()
    problem(await env.commit(order_id), 404, "reservation-not-found")
    problem(await env.get(order_id), 404, "reservation-not-found")
    assert await env.books.reservation_count() == 0


async def test_a_release_before_the_reserve_blocks_the_late_reserve(env: ReservationsEnv) -> None:
    """The orders reconciler cancels an order whose reserve call is still on its way."""
    product = await env.books.product(3)
    order_id = uuid.uuid4()

    released = await env.release(order_id)
    assert released.status_code == 200
    assert released.json()["status"] == "released"
    assert released.json()["lines"] == []
    assert (await env.release(order_id)).json() == released.json()

    late = problem(await env.reserve(order_id, (product, 2)), 409, "reservation-released")
    assert late["order_id"] == str(order_id)
    assert await env.books.levels(product) == (3, 0)
    assert await env.books.ledger(order_id=order_id) == []
    problem(await env.commit(order_id), 409, "reservation-released")
    assert (await env.get(order_id)).json() == released.json()
    await env.books.assert_balanced(product)


async def test_the_use_cases_refuse_a_late_reserve_in_the_same_way(env: ReservationsEnv) -> None:
    """The functions themselves, in the caller's transaction (they only flush)."""
    product = await env.books.product(3)
    order_id = uuid.uuid4()
    async with env.books.sessionmaker() as session, session.begin():
        view = await release(session, order_id, "test")
        assert view.lines == ()
    async with env.books.sessionmaker() as session, session.begin():
        with pytest.raises(ReservationReleasedError):
            await reserve(session, order_id, [(product, 1)], ttl=timedelta(minutes=5), actor="test")
    assert await env.books.levels(product) == (3, 0)


# --- service authentication -------------------------------------------------------


async def test_only_the_service_token_opens_the_internal_api(env: ReservationsEnv) -> None:
    product = await env.books.product(5)
    order_id = uuid.uuid4()
    body = {"lines": [{"product_id": str(product), "quantity": 1}]}
    calls = [
        ("PUT", f"{API}/{order_id}", body),
        ("POST", f"{API}/{order_id}/commit", None),
        ("POST", f"{API}/{order_id}/release", None),
        ("GET", f"{API}/{order_id}", None),
    ]
    wrong = [
        {},
        {SERVICE_TOKEN_HEADER: ""},
        {SERVICE_TOKEN_HEADER: "wrong"},
        {SERVICE_TOKEN_HEADER: SERVICE_TOKEN[:-1]},
        {SERVICE_TOKEN_HEADER: SERVICE_TOKEN + "x"},
        {SERVICE_TOKEN_HEADER: "x" * 5000},
        {"authorization": f"Bearer {SERVICE_TOKEN}"},
    ]
    for method, url, json_body in calls:
        for headers in wrong:
            response = await env.client.request(method, url, json=json_body, headers=headers)
            problem(response, 401, "service-authentication-required")
            assert response.headers["www-authenticate"].startswith("ServiceToken")
    # Authentication comes before the body is judged.
    problem(
        await env.client.put(f"{API}/{order_id}", json={"lines": "nope"}),
        401,
        "service-authentication-required",
    )
    assert await env.books.levels(product) == (5, 0)
    assert await env.books.reservation_count() == 0

    assert service_headers(SERVICE_TOKEN) == SERVICE
    ok = await env.client.put(
        f"{API}/{order_id}", json=body, headers=service_headers(env.settings.service_token)
    )
    assert ok.status_code == 201


async def test_a_valid_admin_bearer_token_grants_nothing(
    databases: Databases, redis_url: str, tmp_path: Path
) -> None:
    key = SigningKey.generate()
    jwks = JwksServer()
    jwks.publish(key)
    with jwks.running() as jwks_url:
        async with reservations_env(databases, redis_url, tmp_path, jwks_url=jwks_url) as env:
            product = await env.books.product(5)
            client = redis.asyncio.Redis.from_url(redis_url)
            try:
                token = await live_token(client, key, roles=("customer", "admin"))
            finally:
                await client.aclose()
            identity = await env.app.state.token_verifier.verify(token)
            assert identity.is_admin  # a good token, as the public API would take it
            bearer = {"authorization": f"Bearer {token}"}

            response = await env.reserve(uuid.uuid4(), (product, 1), headers=bearer)
            problem(response, 401, "service-authentication-required")
            both = await env.reserve(
                uuid.uuid4(), (product, 1), headers={**bearer, SERVICE_TOKEN_HEADER: "guess"}
            )
            problem(both, 401, "service-authentication-required")
            assert await env.books.levels(product) == (5, 0)


@pytest.mark.parametrize("token", [None, "", "   "])
async def test_without_a_configured_token_the_internal_api_is_closed(
    databases: Databases, redis_url: str, tmp_path: Path, token: str | None
) -> None:
    async with reservations_env(databases, redis_url, tmp_path, service_token=token) as env:
        product = await env.books.product(5)
        for headers in ({}, SERVICE, {SERVICE_TOKEN_HEADER: token or ""}):
            response = await env.reserve(uuid.uuid4(), (product, 1), headers=headers)
            problem(response, 503, "service-authentication-not-configured")
        assert await env.books.levels(product) == (5, 0)
        assert (await env.client.get("/health/live")).status_code == 200
    with pytest.raises(ValueError, match="SERVICE_TOKEN"):
        service_headers(token)


async def test_the_internal_api_is_documented_and_never_routed_by_the_gateway(
    env: ReservationsEnv,
) -> None:
    assert not [prefix for prefix in ROUTES if prefix.startswith("/internal")]
    document = (await env.client.get("/openapi.json")).json()
    paths = document["paths"]
    put = paths[f"{API}/{{order_id}}"]["put"]
    assert {"200", "201", "401", "409", "422", "503"} <= put["responses"].keys()
    assert put["security"] == [{"ServiceToken": []}]
    assert document["components"]["securitySchemes"]["ServiceToken"]["name"] == "X-Service-Token"
    assert {"200", "401", "404", "409"} <= paths[f"{API}/{{order_id}}/commit"]["post"][
        "responses"
    ].keys()
    assert {"200", "401", "409"} <= paths[f"{API}/{{order_id}}/release"]["post"]["responses"].keys()
    assert {"200", "401", "404"} <= paths[f"{API}/{{order_id}}"]["get"]["responses"].keys()


# --- the database's own guard -----------------------------------------------------


async def test_the_database_refuses_negative_available_stock(env: ReservationsEnv) -> None:
    product = await env.books.product(3)
    assert (await env.reserve(uuid.uuid4(), (product, 2))).status_code == 201
    for values in ({"reserved": 4}, {"on_hand": 1}, {"reserved": -1}, {"on_hand": -1}):
        async with env.books.sessionmaker() as session:
            with pytest.raises(IntegrityError, match="ck_inventory_"):
                async with session.begin():
                    await session.execute(
                        update(Inventory).where(Inventory.product_id == product).values(**values)
                    )
    async with env.books.sessionmaker() as session:
        row = await session.scalar(select(Inventory).where(Inventory.product_id == product))
        assert row is not None
        row.reserved += 2  # what a reserve without its check would do
        with pytest.raises(IntegrityError, match="available_not_negative"):
            await session.flush()
        await session.rollback()
    assert await env.books.levels(product) == (3, 2)
    await env.books.assert_balanced(product)
