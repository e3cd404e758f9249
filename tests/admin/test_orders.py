"""Orders and the overview against the real system: a customer orders through the
API, the admin ships, delivers, cancels, marks paid or refunds on the pages, the API
agrees."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from bs4 import Tag

from tests.admin.support import (
    ADDRESS,
    Api,
    alert_text,
    csrf_of,
    error_for,
    low_stock_rows,
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
    email, customer = new_customer(system)
    placed = order(customer, product(admin))
    detail = f"/admin/orders/{placed['id']}"
    with signed_in(system) as client:
        listed = parse(client.get("/admin/orders", params={"status": "confirmed"}))
        assert placed["number"] in [a.get_text() for a in listed.select("tbody th a")]

        page = parse(client.get(detail))
        assert page.find("h1").get_text() == f"Order {placed['number']}"  # type: ignore[union-attr]
        assert "confirmed" in page.select_one(".heading").get_text()  # type: ignore[union-attr]
        buyer = page.select_one(".customer a")
        assert buyer is not None
        assert buyer.get_text() == email
        assert buyer["href"] == f"/admin/customers/{placed['user_id']}"
        theirs = parse(client.get(str(buyer["href"])))  # the customer's own page
        assert theirs.find("h1").get_text() == "Ada Lovelace"  # type: ignore[union-attr]
        assert theirs.select_one(".facts dd").get_text() == f"{email} (verified)"  # type: ignore[union-attr]

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
        low = low_stock_rows(client, threshold=0)
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
    awaiting = admin.get("/orders", payment_status="awaiting", limit=100)
    count = str(len(awaiting["items"])) + ("+" if awaiting["next_cursor"] else "")
    assert figures["Orders awaiting payment"] == count
    assert placed["id"] in [o["id"] for o in awaiting["items"]]
    revenue = sum(o["total"] for o in todays if o["status"] != "cancelled")
    assert figures["Revenue today"] == f"{revenue // 100:,}.{revenue % 100:02d} USD"
    assert placed["number"] in page.get_text()
    assert {"Product": item["name"], "Available": "0 (sold out)"}.items() <= next(
        row for row in low if row["SKU"] == item["sku"]
    ).items()


def test_the_overview_lists_the_variants_running_low_at_its_threshold(
    system: RunningSystem,
) -> None:
    admin = Api.as_admin(system)
    sku = "L" + uuid.uuid4().hex[:8].upper()
    lamp = admin.post(
        "/products",
        {
            "sku": sku,
            "name": f"Lamp {sku}",
            "status": "draft",
            "options": [{"name": "Color", "values": ["Red", "Blue"]}],
            "variants": [
                {"sku": f"{sku}-R", "options": {"Color": "Red"}, "price": 900, "initial_stock": 2},
                {"sku": f"{sku}-B", "options": {"Color": "Blue"}, "price": 900, "initial_stock": 9},
            ],
        },
    )
    with signed_in(system) as client:
        page = parse(client.get("/admin/"))
        assert value_of(page, "threshold") == "5"  # ADMIN_LOW_STOCK_THRESHOLD
        at_five = {row["SKU"]: row for row in low_stock_rows(client, threshold=5)}
        at_ten = {row["SKU"]: row for row in low_stock_rows(client, threshold=10)}
        refused = parse(client.get("/admin/", params={"threshold": "lots"}))
    assert at_five[f"{sku}-R"] == {
        "Product": f"Lamp {sku} (draft)",
        "SKU": f"{sku}-R",
        "Variant": "Red",
        "Available": "2",
        "Reserved": "0",
        "href": f"/admin/products/{lamp['id']}",
    }
    assert f"{sku}-B" not in at_five
    assert at_ten[f"{sku}-B"]["Available"] == "9"
    assert "whole number" in error_for(refused, "threshold")
    assert value_of(refused, "threshold") == "lots"


def usd(minor_units: int) -> str:
    return f"{minor_units // 100:,}.{minor_units % 100:02d} USD"


def _refund_form(client: httpx.Client, detail: str, **data: str) -> httpx.Response:
    """The page's refund form sent with ``data`` (its CSRF token and refund key kept)."""
    page = parse(client.get(detail))
    key = page.find("input", attrs={"name": "refund_key"})
    assert isinstance(key, Tag), "the page offers no refund"
    return client.post(
        detail + "/refund",
        data={**data, "csrf_token": csrf_of(page), "refund_key": str(key["value"])},
    )


def test_an_order_is_marked_paid_then_refunded_in_part_then_cancelled(
    system: RunningSystem,
) -> None:
    admin = Api.as_admin(system)
    _, customer = new_customer(system)
    placed = order(customer, product(admin, price=1250), quantity=2)
    total = placed["total"]  # 25.00 USD, and a tax rate's share if another test made one
    detail = f"/admin/orders/{placed['id']}"
    with signed_in(system) as client:
        page = parse(client.get(detail))
        assert "awaiting" in page.select_one(".payment-status").get_text()  # type: ignore[union-attr]
        assert not page.select(f'form[action="{detail}/refund"]')  # nothing paid to refund
        listed = parse(client.get("/admin/orders", params={"payment_status": "awaiting"}))
        assert placed["number"] in [a.get_text() for a in listed.select("tbody th a")]

        paid = post_form(client, detail, detail + "/mark-paid", {})
        assert paid.status_code == 303
        page = parse(client.get(paid.headers["location"]))
        assert "Marked as paid." in status_text(page)
        assert "paid" in page.select_one(".payment-status").get_text()  # type: ignore[union-attr]
        assert not page.select(f'form[action="{detail}/mark-paid"]')
        assert page.select_one(".refundable").get_text() == usd(total)  # type: ignore[union-attr]
        assert customer.get(f"/orders/{placed['id']}")["payment_status"] == "paid"

        # Refused on the page, then by the API: in words, next to the amount, reason kept.
        typo = _refund_form(client, detail, amount="ten", reason="a chipped lid")
        assert typo.status_code == 422
        assert "amount such as 19.99" in error_for(parse(typo), "amount")
        assert value_of(parse(typo), "reason") == "a chipped lid"
        unsaid = _refund_form(client, detail, amount="5.00", reason=" ")
        assert unsaid.status_code == 422
        assert "why" in error_for(parse(unsaid), "reason")
        over = f"{(total + 1) / 100:.2f}"
        too_much = _refund_form(client, detail, amount=over, reason="a chipped lid")
        assert too_much.status_code == 409
        assert f"At most {usd(total)} is left to refund." in error_for(parse(too_much), "amount")
        assert value_of(parse(too_much), "amount") == over
        assert value_of(parse(too_much), "reason") == "a chipped lid"

        # The same form sent twice (a double click, a reload) refunds once.
        page = parse(client.get(detail))
        twice = {
            "amount": "10.00",
            "reason": "a chipped lid",
            "csrf_token": csrf_of(page),
            "refund_key": str(page.find("input", attrs={"name": "refund_key"})["value"]),  # type: ignore[index]
        }
        first = client.post(detail + "/refund", data=twice)
        second = client.post(detail + "/refund", data=twice)
        assert (first.status_code, second.status_code) == (303, 303)
        page = parse(client.get(first.headers["location"]))
        assert "Refunded." in status_text(page)
        rows = [
            [cell.get_text(" ", strip=True) for cell in row.select("td")]
            for row in page.select("table.refunds tbody tr")
        ]
        assert [row[1:] for row in rows] == [["10.00 USD", "a chipped lid", "succeeded"]]
        assert "partially refunded" in page.select_one(".payment-status").get_text()  # type: ignore[union-attr]
        seen = customer.get(f"/orders/{placed['id']}")
        assert seen["payment_status"] == "partially_refunded"
        assert [r["amount"] for r in seen["refunds"]] == [1000]
        listed = parse(client.get("/admin/orders", params={"payment_status": "awaiting"}))
        assert placed["number"] not in [a.get_text() for a in listed.select("tbody th a")]

        # Cancelling it refunds the rest.
        page = parse(client.get(detail))
        cancel = page.select_one(f'form[action="{detail}/cancel"] button')
        assert cancel is not None
        assert (
            cancel.get_text(" ", strip=True) == f"Cancel the order and refund {usd(total - 1000)}"
        )
        cancelled = post_form(client, detail, detail + "/cancel", {})
        assert cancelled.status_code == 303
        page = parse(client.get(detail))
        assert not page.select(f'form[action="{detail}/refund"]')
    seen = customer.get(f"/orders/{placed['id']}")
    assert (seen["status"], seen["payment_status"]) == ("cancelled", "refunded")
    assert [r["amount"] for r in seen["refunds"]] == [1000, total - 1000]
