"""Promotions: the admin resource, the checks of a code against a cart, and the race-safe
count of uses when orders are placed (claim) and cancelled (give back), on the real
PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import unit_of_work
from shop.kit.errors import ShopError
from shop.orders.errors import (
    OrderHasPromotionError,
    PromotionCustomerExhaustedError,
    PromotionExhaustedError,
    PromotionRefusedError,
)
from shop.orders.pricing import Discount, DiscountKind
from shop.orders.promotion_uses import Customer, check_code, claim, discount_of, give_back
from tests.orders.support import OrdersEnv

PROMOTIONS = "/api/v1/promotions"
NOW = datetime.now(UTC)
CLAIMANTS = 30
USES_LEFT = 5


async def _promotion(env: OrdersEnv, **body: Any) -> dict[str, Any]:
    admin = await env.tokens.admin()
    values: dict[str, Any] = {"code": "SAVE10", "kind": "percentage", "value": 10} | body
    response = await env.client.post(PROMOTIONS, json=values, headers=admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _sessions(env: OrdersEnv) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = env.app.state.sessionmaker
    return sessionmaker


async def _claim(env: OrdersEnv, code: str, customer: Customer, **kw: Any) -> uuid.UUID:
    order_id = kw.pop("order_id", None) or uuid.uuid4()
    async with unit_of_work(_sessions(env)) as session:
        await claim(
            session,
            code,
            order_id=order_id,
            customer=customer,
            subtotal=kw.pop("subtotal", 10_000),
            now=NOW,
        )
    return order_id


async def _refusal(env: OrdersEnv, code: str, **kw: Any) -> ShopError:
    async with unit_of_work(_sessions(env)) as session:
        with pytest.raises(PromotionRefusedError) as refused:
            await check_code(
                session,
                code,
                subtotal=kw.get("subtotal", 10_000),
                customer=kw.get("customer"),
                now=kw.get("now", NOW),
            )
    return refused.value


async def _times_used(env: OrdersEnv, code: str) -> int:
    used: int = await env.db.fetchval(
        "SELECT times_used FROM promotions WHERE lower(code) = lower($1)", code
    )
    return used


async def test_codes_are_case_insensitive_and_unique(env: OrdersEnv) -> None:
    admin = await env.tokens.admin()
    created = await _promotion(env, code="Summer-24", min_subtotal=5000, usage_limit=100)
    assert (created["code"], created["times_used"], created["active"]) == ("Summer-24", 0, True)
    again = await env.client.post(
        PROMOTIONS, json={"code": "SUMMER-24", "kind": "free_shipping"}, headers=admin.headers
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/duplicate-promotion-code")

    async with unit_of_work(_sessions(env)) as session:
        found = await check_code(session, "summer-24", subtotal=5000, customer=None, now=NOW)
    assert discount_of(found) == Discount(DiscountKind.PERCENTAGE, 10)

    # DELETE deactivates: the code stays the promotion's own.
    path = f"{PROMOTIONS}/{created['id']}"
    assert (await env.client.delete(path, headers=admin.headers)).status_code == 204
    shown = (await env.client.get(path, headers=admin.headers)).json()
    assert shown["active"] is False
    assert (await _refusal(env, "SUMMER-24")).extra["reason"] == "inactive"
    listed = (await env.client.get(PROMOTIONS, headers=admin.headers)).json()["items"]
    assert [p["code"] for p in listed] == ["Summer-24"]
    customer = await env.tokens.user()
    assert (await env.client.get(PROMOTIONS, headers=customer.headers)).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": 101}, "value"),
        ({"value": 0}, "value"),
        ({"value": None}, "value"),
        ({"kind": "free_shipping", "value": 5}, "value"),
        ({"kind": "fixed", "value": None}, "value"),
        ({"kind": "coupon"}, "kind"),
        ({"code": "no spaces"}, "code"),
        ({"code": ""}, "code"),
        ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2030-01-01T00:00:00"}, "starts_at"),  # no time zone
        ({"usage_limit": 0}, "usage_limit"),
        ({"per_customer_limit": True}, "per_customer_limit"),
        ({"min_subtotal": -1}, "min_subtotal"),
        ({"times_used": 3}, "times_used"),  # read only
    ],
)
async def test_a_bad_promotion_is_a_422_naming_the_field(
    env: OrdersEnv, body: dict[str, Any], field: str
) -> None:
    admin = await env.tokens.admin()
    values = {"code": "SAVE10", "kind": "percentage", "value": 10} | body
    response = await env.client.post(PROMOTIONS, json=values, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


async def test_a_patch_is_checked_against_the_stored_values_and_the_count(env: OrdersEnv) -> None:
    admin = await env.tokens.admin()
    promotion = await _promotion(env, ends_at="2030-01-01T00:00:00Z", usage_limit=5)
    path = f"{PROMOTIONS}/{promotion['id']}"
    early = await env.client.patch(
        path, json={"starts_at": "2031-01-01T00:00:00Z"}, headers=admin.headers
    )
    assert [e["field"] for e in early.json()["errors"]] == ["ends_at"]
    for _ in range(3):
        await _claim(env, "SAVE10", Customer(None, f"{uuid.uuid4().hex}@example.com"))
    below = await env.client.patch(path, json={"usage_limit": 2}, headers=admin.headers)
    assert below.status_code == 422
    assert [e["field"] for e in below.json()["errors"]] == ["usage_limit"]
    fixed = await env.client.patch(
        path, json={"kind": "fixed", "value": 500}, headers=admin.headers
    )
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["kind"], fixed.json()["value"], fixed.json()["times_used"]) == (
        "fixed",
        500,
        3,
    )


async def test_each_refusal_says_its_reason(env: OrdersEnv) -> None:
    await _promotion(env, code="SOON", starts_at=(NOW + timedelta(days=1)).isoformat())
    await _promotion(env, code="OVER", ends_at=NOW.isoformat())
    await _promotion(env, code="BIG", min_subtotal=5000)
    await _promotion(env, code="ONCE", kind="fixed", value=500, per_customer_limit=1)
    await _promotion(env, code="LAST", kind="free_shipping", value=None, usage_limit=1)
    ada = Customer(uuid.uuid4(), "Ada@Example.com")
    await _claim(env, "ONCE", ada)
    await _claim(env, "LAST", Customer(None, "grace@example.com"))

    reasons = {
        "unknown": await _refusal(env, "NOPE"),
        "not-started": await _refusal(env, "SOON"),
        "expired": await _refusal(env, "OVER"),  # ends_at is exclusive
        "min-subtotal": await _refusal(env, "BIG", subtotal=4999),
        "used-up": await _refusal(env, "LAST"),
        # The same person by email as a guest, or by account under another email.
        "per-customer-limit": await _refusal(
            env, "ONCE", customer=Customer(None, "ada@example.COM")
        ),
    }
    for reason, refused in reasons.items():
        assert refused.status == 422
        assert refused.extra["reason"] == reason
        assert refused.extra["errors"][0]["field"] == "code"
    other_email = await _refusal(env, "ONCE", customer=Customer(ada.user_id, "ada@work.example"))
    assert other_email.extra["reason"] == "per-customer-limit"
    async with unit_of_work(_sessions(env)) as session:
        # min_subtotal is inclusive; a code unknown to nobody else is fine for Grace.
        await check_code(session, "BIG", subtotal=5000, customer=None, now=NOW)
        await check_code(session, "ONCE", subtotal=1, customer=Customer(None, "g@x.io"), now=NOW)
        await check_code(session, "SOON", subtotal=1, customer=None, now=NOW + timedelta(days=2))


async def test_thirty_claimants_for_five_uses_left(env: OrdersEnv) -> None:
    await _promotion(env, code="RACE", usage_limit=8)
    for _ in range(8 - USES_LEFT):
        await _claim(env, "RACE", Customer(None, f"early-{uuid.uuid4().hex}@example.com"))

    async def one(number: int) -> uuid.UUID | ShopError:
        try:
            return await _claim(env, "race", Customer(uuid.uuid4(), f"c{number}@example.com"))
        except ShopError as refused:
            return refused

    outcomes = await asyncio.wait_for(asyncio.gather(*[one(n) for n in range(CLAIMANTS)]), 120)

    winners = [o for o in outcomes if isinstance(o, uuid.UUID)]
    refused = [o for o in outcomes if not isinstance(o, uuid.UUID)]
    assert len(winners) == USES_LEFT
    assert len(refused) == CLAIMANTS - USES_LEFT
    assert all(isinstance(o, PromotionExhaustedError) for o in refused)
    assert {o.status for o in refused} == {409}
    assert await _times_used(env, "RACE") == 8
    recorded = await env.db.fetch("SELECT order_id FROM promotion_uses")
    assert set(winners) <= {row["order_id"] for row in recorded}
    assert len(recorded) == 8


async def test_a_customer_racing_their_own_limit(env: OrdersEnv) -> None:
    await _promotion(env, code="TWICE", per_customer_limit=2)
    ada = Customer(uuid.uuid4(), "ada@example.com")

    async def one() -> uuid.UUID | ShopError:
        try:
            return await _claim(env, "TWICE", ada)
        except ShopError as refused:
            return refused

    outcomes = await asyncio.wait_for(asyncio.gather(*[one() for _ in range(10)]), 120)

    assert sum(isinstance(o, uuid.UUID) for o in outcomes) == 2
    refused = [o for o in outcomes if not isinstance(o, uuid.UUID)]
    assert len(refused) == 8
    assert all(isinstance(o, PromotionCustomerExhaustedError) for o in refused)
    assert await _times_used(env, "TWICE") == 2
    # Another customer is not held back by Ada's uses.
    await _claim(env, "TWICE", Customer(uuid.uuid4(), "grace@example.com"))


async def test_claims_and_give_backs_are_idempotent_by_order(env: OrdersEnv) -> None:
    await _promotion(env, code="ONE", usage_limit=1)
    await _promotion(env, code="OTHER", kind="free_shipping", value=None)
    ada = Customer(uuid.uuid4(), "ada@example.com")
    order = await _claim(env, "ONE", ada)
    assert await _claim(env, "one", ada, order_id=order) == order  # a repeat counts once
    assert await _times_used(env, "ONE") == 1
    with pytest.raises(OrderHasPromotionError):
        await _claim(env, "OTHER", ada, order_id=order)
    with pytest.raises(PromotionExhaustedError):
        await _claim(env, "ONE", Customer(None, "grace@example.com"))

    async with unit_of_work(_sessions(env)) as session:
        assert await give_back(session, order) is True
    async with unit_of_work(_sessions(env)) as session:
        assert await give_back(session, order) is False  # given back already
        assert await give_back(session, uuid.uuid4()) is False  # never claimed
    assert await _times_used(env, "ONE") == 0

    grace_order = await _claim(env, "ONE", Customer(None, "grace@example.com"))
    assert await _times_used(env, "ONE") == 1
    assert await env.db.fetchval("SELECT order_id FROM promotion_uses") == grace_order


async def test_a_failed_checkout_counts_nothing(env: OrdersEnv) -> None:
    await _promotion(env, code="ROLL", usage_limit=1)

    async def failing_checkout() -> None:
        async with unit_of_work(_sessions(env)) as session:
            await claim(
                session,
                "ROLL",
                order_id=uuid.uuid4(),
                customer=Customer(None, "a@example.com"),
                subtotal=100,
                now=NOW,
            )
            raise RuntimeError("the order could not be placed")

    with pytest.raises(RuntimeError):
        await failing_checkout()
    assert await _times_used(env, "ROLL") == 0
    assert await env.db.fetchval("SELECT count(*) FROM promotion_uses") == 0
