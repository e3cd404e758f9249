"""Orders and the overview against the real system: a customer orders through the
API, the admin ships, delivers or cancels on the pages, the API agrees."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.admin.support import (
    ADDRESS,
    Api,
    alert_text,
    error_for,
    new_customer,
    parse,
    post_form,
    signed_in,
    status_text,
    value_of,
)
from tests.e2e.system import RunningSystem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("admin")]


def product(api: Api, price: int = 1250, stock: int = 10) -> dict[str, Any]:
    sku = "O" + uuid.uuid4().hex[:8].upper()
    body = {
        "sku": sku,
        "name": f"Teapot {sku}",
        "status": "active",
        "price": price,
        "initial_stock": stock,
    }
    made: dict[str, Any] = api.post("/products", body)
    return made


def order(customer: Api, item: dict[str, Any], quantity: int = 2) -> dict[str, Any]:
    body = {
        "items": [{"product_id": item["id"], "quantity": quantity}],
        "shipping_address": ADDRESS,
    }
    placed: dict[str, Any] = customer.post("/orders", body)
    return placed


def test_an_order_is_shipped_with_a_tracking_number_then_delivered(system: RunningSystem) -> None:
    admin = Api.as_admin(system)
    _, customer = new_customer(system)
    placed = order(customer, product(admin))
    detail = f"/admin/orders/{placed['id']}"
    with signed_in(system) as client:
        listed = parse(client.get("/admin/orders", params={"status": "confirmed"}))
        assert placed["number"] in [a.get_text() for a in listed.select("tbody th a")]

        page = parse(client.get(detail))
        assert page.find("h1").get_text() == f"Order {placed['number']}"  # type: ignore[union-attr]
        assert "confirmed" in page.select_one(".heading").get_text()  # type: ignore[union-attr]

        untracked = post_form(
            client, detail, detail + "/ship", {"tracking_number": " ", "note": "by van"}
        )
        assert untracked.status_code == 422
        assert "tracking number" in error_for(parse(untracked), "tracking_number")
        assert value_of(parse(untracked), "note") == "by van"
        assert customer.get(f"/orders/{placed['id']}")["status"] == "confirmed"

        shipped = post_form(
            client, detail, detail + "/ship", {"tracking_number": "1Z999AA10123456784"}
        )
        assert shipped.status_code == 303
        page = parse(client.get(shipped.headers["location"]))
        assert "Marked as shipped" in status_text(page)
        assert page.select_one(".tracking").get_text() == "1Z999AA10123456784"  # type: ignore[union-attr]
        seen = customer.get(f"/orders/{placed['id']}")
        assert seen["status"] == "shipped"
        assert seen["tracking_number"] == "1Z999AA10123456784"

        delivered = post_form(client, detail, detail + "/deliver", {})
        assert delivered.status_code == 303
        history = [
            li.get_text(" ", strip=True) for li in parse(client.get(detail)).select(".history li")
        ]
        assert [h.split("— ")[1].split(":")[0].strip() for h in history][-3:] == [
            "confirmed",
            "shipped",
            "delivered",
        ]
    assert customer.get(f"/orders/{placed['id']}")["status"] == "delivered"


def test_a_cancelled_order_gives_its_stock_back_and_cannot_be_cancelled_twice(
    system: RunningSystem,
) -> None:
    admin = Api.as_admin(system)
    _, customer = new_customer(system)
    item = product(admin, stock=5)
    placed = order(customer, item, quantity=3)
    assert admin.get(f"/products/{item['id']}/inventory")["available"] == 2
    detail = f"/admin/orders/{placed['id']}"
    with signed_in(system) as client:
        cancelled = post_form(client, detail, detail + "/cancel", {})
        assert cancelled.status_code == 303
        assert "Cancelled" in status_text(parse(client.get(cancelled.headers["location"])))
        # The page no longer offers it; a stale page's form is refused in words.
        token_page = parse(client.get(detail))
        assert not token_page.select(f'form[action="{detail}/cancel"]')
        again = post_form(client, detail, detail + "/cancel", {})
        assert again.status_code == 409
        assert alert_text(parse(again))
    assert admin.get(f"/products/{item['id']}/inventory")["available"] == 5
    assert customer.get(f"/orders/{placed['id']}")["status"] == "cancelled"


def test_the_overview_counts_todays_orders_and_lists_what_to_ship(system: RunningSystem) -> None:
    admin = Api.as_admin(system)
    _, customer = new_customer(system)
    item = product(admin, price=1000, stock=3)
    placed = order(customer, item, quantity=3)  # and none left
    with signed_in(system) as client:
        page = parse(client.get("/admin/"))
    figures = {
        div.dt.get_text(): div.dd.get_text(strip=True)  # type: ignore[union-attr]
        for div in page.select(".cards dl > div")
    }
    todays = [
        o
        for o in admin.get("/orders", limit=100)["items"]
        if o["created_at"][:10] == placed["created_at"][:10]
    ]
    assert figures["Orders today"] == str(len(todays))
    revenue = sum(o["total"] for o in todays if o["status"] != "cancelled")
    assert figures["Revenue today"] == f"{revenue // 100:,}.{revenue % 100:02d} USD"
    assert placed["number"] in page.get_text()
    sold_out = [a.get_text() for a in page.select("#stock-title ~ ul a")]
    assert item["name"] in sold_out
