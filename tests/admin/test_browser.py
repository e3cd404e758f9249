"""The dashboard in a real browser (Debian's Chromium through Playwright), against
`shop up`: sign in, create a product with two options and four variants, give it a
picture, adjust its stock, find it by search; a customer orders it through the API;
the admin marks it paid, ships it with a tracking number and refunds part of it.
Each step is checked on the page and through the API, and the main pages are
photographed (ADMIN_SCREENSHOTS=docs/admin keeps the pictures)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.admin.browser import chromium, keep_screenshot, needs_chromium
from tests.admin.support import ADDRESS, Api, new_customer
from tests.e2e.system import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("admin"), needs_chromium]

VARIANTS = [
    ("S", "Red", "24.00"),
    ("S", "Black", "24.00"),
    ("M", "Red", "26.00"),
    ("M", "Black", "26.00"),
]


def test_the_whole_flow_in_a_browser(system: RunningSystem, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    api = Api.as_admin(system)
    sku = "B" + uuid.uuid4().hex[:7].upper()
    name = f"Wombat fleece {sku}"
    shots = tmp_path / "shots"
    shots.mkdir()

    def photograph(page: Page, picture: str) -> None:
        page.screenshot(path=str(shots / picture), full_page=True)
        keep_screenshot(shots / picture)

    with chromium(tmp_path / "profile") as opened:
        page: Page = opened  # type: ignore[assignment]
        page.set_default_timeout(60_000)

        # Sign in: the dashboard sends a stranger to the sign-in page first.
        page.goto(system.url() + "/admin/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        photograph(page, "sign-in.png")
        page.get_by_label("Email").fill(ADMIN_EMAIL)
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Overview")

        # A product with two options and four variants.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Products").click()
        page.get_by_role("link", name="New product").click()
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("SKU", exact=True).fill(sku)
        page.get_by_label("Status").select_option("active")
        page.get_by_label("Option 1 name").fill("Size")
        page.get_by_label("Option 1 values, comma-separated").fill("S, M")
        page.get_by_label("Option 2 name").fill("Color")
        page.get_by_label("Option 2 values, comma-separated").fill("Red, Black")
        for row, (size, colour, price) in enumerate(VARIANTS, start=1):
            page.get_by_label(f"Variant {row} SKU").fill(f"{sku}-{size}-{colour}")
            page.get_by_label(f"Variant {row} options").fill(f"{size} / {colour}")
            page.get_by_label(f"Variant {row} price").fill(price)
            page.get_by_label(f"Variant {row} initial stock").fill("2")
        photograph(page, "product-new.png")
        page.get_by_role("button", name="Create product").click()
        expect(page.get_by_role("status")).to_have_text("Created.")
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        product_id = page.url.split("/")[-1].split("?")[0]
        product: dict[str, Any] = api.get(f"/products/{product_id}")
        titles = sorted(v["title"] for v in product["variants"])
        assert titles == ["M / Black", "M / Red", "S / Black", "S / Red"]
        assert product["available"] == 8

        # A picture, chosen in the file input as a person would.
        picture = tmp_path / "fleece.png"
        Image.new("RGB", (320, 240), (40, 90, 160)).save(picture)
        page.get_by_label("Picture to add (JPEG, PNG, WebP or GIF, up to 10 MiB)").set_input_files(
            str(picture)
        )
        page.get_by_role("button", name="Add the picture").click()
        thumbnail = page.get_by_role("img", name=f"Picture 1 of {name}")
        expect(thumbnail).to_be_visible()
        # Shown, not only named: its URL is the gateway's, which serves the picture.
        thumbnail.evaluate("img => img.decode()")
        assert thumbnail.evaluate("img => img.naturalWidth") > 0
        assert len(api.get(f"/products/{product_id}")["images"]) == 1

        # Stock: five more M / Red.
        m_red = next(v for v in product["variants"] if v["title"] == "M / Red")
        page.get_by_label("Variant", exact=True).select_option(m_red["id"])
        page.get_by_label("Units to add (negative to remove)").fill("5")
        page.get_by_label("Reason").fill("delivery from the mill")
        page.get_by_role("button", name="Adjust stock").click()
        expect(page.get_by_role("status")).to_have_text("Stock adjusted.")
        row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="M / Red"))
        expect(row.get_by_role("cell").nth(1)).to_have_text("7")  # on hand (after the SKU)
        levels = {
            v["variant_id"]: v for v in api.get(f"/products/{product_id}/inventory")["variants"]
        }
        assert levels[m_red["id"]]["on_hand"] == 7
        photograph(page, "product.png")

        # Search finds it.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Products").click()
        page.get_by_label("Search").fill("wombat fleece")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("link", name=name)).to_be_visible()
        photograph(page, "products.png")

        # A customer orders two M / Red through the API.
        _, customer = new_customer(system, name="Margaret Hamilton")
        order = customer.post(
            "/orders",
            {"items": [{"variant_id": m_red["id"], "quantity": 2}], "shipping_address": ADDRESS},
        )

        # The admin finds it among the orders to ship and ships it.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
        expect(page.get_by_role("link", name=order["number"])).to_be_visible()
        photograph(page, "overview.png")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
        page.get_by_label("Status").select_option("confirmed")
        page.get_by_role("button", name="Filter").click()
        photograph(page, "orders.png")
        page.get_by_role("link", name=order["number"]).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order['number']}")
        expect(page.get_by_text("Wombat fleece")).to_be_visible()
        # The bank transfer arrived: the admin marks it paid.
        page.get_by_role("button", name="Mark paid", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Marked as paid.")
        expect(page.locator(".payment-status")).to_have_text("paid")
        assert customer.get(f"/orders/{order['id']}")["payment_status"] == "paid"
        page.get_by_label("Tracking number").fill("JD014600006281234567")
        page.get_by_role("button", name="Mark as shipped").click()
        expect(page.get_by_role("status")).to_have_text("Marked as shipped.")
        expect(page.locator(".heading")).to_contain_text(re.compile("shipped"))
        expect(page.locator(".tracking")).to_have_text("JD014600006281234567")
        photograph(page, "order.png")
        shipped = customer.get(f"/orders/{order['id']}")
        assert shipped["status"] == "shipped"
        assert shipped["tracking_number"] == "JD014600006281234567"
        # One fleece arrived torn: the admin refunds part of the order.
        page.get_by_label("Amount").fill("5.00")
        page.get_by_label("Reason").fill("one fleece arrived torn")
        page.get_by_role("button", name="Refund", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Refunded.")
        expect(page.locator(".payment-status")).to_have_text("partially refunded")
        expect(page.locator("table.refunds")).to_contain_text("one fleece arrived torn")
        photograph(page, "order-refunded.png")
        refunded = customer.get(f"/orders/{order['id']}")
        assert refunded["payment_status"] == "partially_refunded"
        assert [(r["amount"], r["status"]) for r in refunded["refunds"]] == [(500, "succeeded")]

    # The same dashboard on a phone's width.
    with chromium(tmp_path / "phone", width=390, height=844) as opened:
        phone: Page = opened  # type: ignore[assignment]
        phone.goto(system.url() + "/admin/login")
        phone.get_by_label("Email").fill(ADMIN_EMAIL)
        phone.get_by_label("Password").fill(ADMIN_PASSWORD)
        phone.get_by_role("button", name="Sign in").click()
        expect(phone.get_by_role("heading", level=1)).to_have_text("Overview")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the screen: tables scroll inside
        photograph(phone, "overview-phone.png")
