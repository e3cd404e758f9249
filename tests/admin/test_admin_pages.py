"""Categories, customers, promotions, shipping methods and tax rates on their pages,
checked through the API."""

from __future__ import annotations

import uuid

import pytest
from bs4 import Tag

from tests.admin.support import (
    ADDRESS,
    Api,
    alert_text,
    dashboard,
    error_for,
    new_customer,
    parse,
    post_form,
    sign_in,
    signed_in,
    status_text,
    value_of,
)
from tests.e2e.system import ADMIN_EMAIL, RunningSystem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("admin")]


def test_categories_are_created_renamed_nested_and_deleted(system: RunningSystem) -> None:
    api = Api.as_admin(system)
    name = f"Kitchen {uuid.uuid4().hex[:6]}"
    with signed_in(system) as client:
        made = post_form(client, "/admin/categories", "/admin/categories", {"name": name})
        assert made.status_code == 303
        parent = next(c for c in api.get("/categories")["items"] if c["name"] == name)
        child = post_form(
            client,
            "/admin/categories",
            "/admin/categories",
            {"name": name + " teapots", "parent_id": parent["id"]},
        )
        assert child.status_code == 303
        duplicate = post_form(
            client, "/admin/categories", "/admin/categories", {"name": "x", "slug": parent["slug"]}
        )
        assert duplicate.status_code == 409
        assert alert_text(parse(duplicate))
        assert value_of(parse(duplicate), "name") == "x"
        renamed = post_form(
            client,
            "/admin/categories",
            f"/admin/categories/{parent['id']}",
            {"name": name + " and dining", "slug": parent["slug"], "parent_id": ""},
        )
        assert renamed.status_code == 303
        kid = next(c for c in api.get("/categories")["items"] if c["parent_id"] == parent["id"])
        deleted = post_form(
            client, "/admin/categories", f"/admin/categories/{kid['id']}/delete", {}
        )
        assert deleted.status_code == 303
    names = {c["name"] for c in api.get("/categories")["items"]}
    assert name + " and dining" in names
    assert name + " teapots" not in names


def test_customers_are_found_given_the_admin_role_and_deactivated(system: RunningSystem) -> None:
    address, _ = new_customer(system, name="Grace Hopper")
    with signed_in(system) as client:
        found = parse(client.get("/admin/customers", params={"email": address}))
        link = found.select_one("tbody th a")
        assert link is not None
        assert link.get_text() == address
        detail = str(link["href"])
        user = Api.as_admin(system).get("/auth/users", email=address)["items"][0]
        assert detail == f"/admin/customers/{user['id']}"
        page = parse(client.get(detail))
        assert page.find("h1").get_text() == "Grace Hopper"  # type: ignore[union-attr]
        assert (
            post_form(
                client,
                detail,
                detail,
                {"change": "roles", "admin": "on"},
            ).status_code
            == 303
        )
        promoted = parse(client.get(detail)).find("input", attrs={"name": "admin"})
        assert promoted is not None
        assert promoted.has_attr("checked")  # type: ignore[union-attr]
        admin_api = Api.as_admin(system)
        assert "admin" in admin_api.get("/auth/users", email=address)["items"][0]["roles"]
        assert post_form(client, detail, detail, {"change": "roles"}).status_code == 303
        assert post_form(client, detail, detail, {"change": "deactivate"}).status_code == 303
        assert "deactivated" in parse(client.get(detail)).get_text()
    user = next(u for u in Api.as_admin(system).get("/auth/users", email=address)["items"])
    assert user["roles"] == ["customer"]
    assert user["is_active"] is False
    with dashboard(system) as browser:
        assert (
            sign_in(browser, address, "a customer's long and unusual passphrase").status_code != 303
        )


def test_a_customers_page_shows_their_orders_and_says_what_the_api_refused(
    system: RunningSystem,
) -> None:
    admin = Api.as_admin(system)
    address, customer = new_customer(system, name="Mary Somerville")
    sku = "C" + uuid.uuid4().hex[:8].upper()
    body = {"sku": sku, "name": f"Globe {sku}", "status": "active", "price": 1500}
    item = admin.post("/products", {**body, "initial_stock": 5})
    line = {"product_id": item["id"], "quantity": 1}
    placed = customer.post("/orders", {"items": [line], "shipping_address": ADDRESS})
    user = admin.get("/auth/users", email=address)["items"][0]
    me = admin.get("/auth/users", email=ADMIN_EMAIL)["items"][0]
    detail, mine = f"/admin/customers/{user['id']}", f"/admin/customers/{me['id']}"
    with signed_in(system) as client:
        page = parse(client.get(detail))
        assert page.find("h1").get_text() == "Mary Somerville"  # type: ignore[union-attr]
        rows = page.select("#orders-title ~ table tbody tr")
        assert [row.th.get_text() for row in rows] == [placed["number"]]  # type: ignore[union-attr]
        assert rows[0].a["href"] == f"/admin/orders/{placed['id']}"  # type: ignore[index]
        assert "awaiting" in rows[0].get_text()

        # The API refuses an admin's own demotion: said in words beside the roles,
        # the box left as it was sent.
        demoted = post_form(client, mine, mine, {"change": "roles"})
        assert demoted.status_code == 409
        page = parse(demoted)
        roles = page.select_one('section[aria-labelledby="roles-title"] [role="alert"]')
        assert roles is not None
        assert "cannot deactivate or demote themselves" in roles.get_text()
        box = page.find("input", attrs={"name": "admin"})
        assert isinstance(box, Tag)
        assert not box.has_attr("checked")
        deactivated = post_form(client, mine, mine, {"change": "deactivate"})
        assert deactivated.status_code == 409
        account = parse(deactivated).select_one(
            'section[aria-labelledby="account-title"] [role="alert"]'
        )
        assert account is not None
        assert "cannot deactivate" in account.get_text()
        nothing = post_form(client, detail, detail, {"change": "everything"})
        assert nothing.status_code == 422
        assert "no change" in alert_text(parse(nothing))

        assert post_form(client, detail, detail, {"change": "deactivate"}).status_code == 303
        assert admin.get(f"/auth/users/{user['id']}")["is_active"] is False
        again = post_form(client, detail, detail, {"change": "reactivate"})
        assert again.status_code == 303
        assert "Saved" in status_text(parse(client.get(again.headers["location"])))

        missing = client.get(f"/admin/customers/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert "not found" in parse(missing).get_text().lower()
        # A hand-edited address is a page saying so, not the API's JSON problem.
        for address in ("/admin/customers/not-an-id", "/admin/no-such-page"):
            mistyped = client.get(address)
            assert mistyped.status_code == 404
            assert mistyped.headers["content-type"].startswith("text/html")
            assert parse(mistyped).find("h1").get_text() == "No such page"  # type: ignore[union-attr]
    assert admin.get(f"/auth/users/{user['id']}")["is_active"] is True
    still = admin.get(f"/auth/users/{me['id']}")
    assert ("admin" in still["roles"], still["is_active"]) == (True, True)


def test_promotions_shipping_methods_and_tax_rates(system: RunningSystem) -> None:
    api = Api.as_admin(system)
    code = "SPRING" + uuid.uuid4().hex[:4].upper()
    with signed_in(system) as client:
        made = post_form(
            client,
            "/admin/promotions",
            "/admin/promotions",
            {"code": code, "kind": "percentage", "value": "15", "active": "on"},
        )
        assert made.status_code == 303, alert_text(parse(made))
        twice = post_form(
            client,
            "/admin/promotions",
            "/admin/promotions",
            {"code": code, "kind": "percentage", "value": "15", "active": "on"},
        )
        assert twice.status_code == 409
        assert value_of(parse(twice), "code") == code

        shipping = post_form(
            client,
            "/admin/shipping-methods",
            "/admin/shipping-methods",
            {
                "name": "Courier",
                "countries": "gb, ie",
                "price": "4.95",
                "free_over": "50",
                "min_days": "1",
                "max_days": "2",
                "active": "on",
            },
        )
        assert shipping.status_code == 303, alert_text(parse(shipping))
        bad_price = parse(
            post_form(
                client,
                "/admin/shipping-methods",
                "/admin/shipping-methods",
                {
                    "name": "Slow",
                    "countries": "GB",
                    "price": "cheap",
                    "min_days": "3",
                    "max_days": "9",
                },
            )
        )
        assert "amount" in error_for(bad_price, "price")

        too_high = post_form(
            client,
            "/admin/tax-rates",
            "/admin/tax-rates",
            {"country": "GB", "name": "VAT", "rate_bp": "20000"},
        )
        assert too_high.status_code == 422
        assert error_for(parse(too_high), "rate_bp")
        vat = post_form(
            client,
            "/admin/tax-rates",
            "/admin/tax-rates",
            {"country": "GB", "name": "VAT", "rate_bp": "2000", "applies_to_shipping": "on"},
        )
        assert vat.status_code == 303, alert_text(parse(vat))

        promotion = next(p for p in api.get("/promotions", limit=100)["items"] if p["code"] == code)
        edit = f"/admin/promotions/{promotion['id']}"
        assert value_of(parse(client.get(edit)), "value") == "15"
        assert (
            post_form(
                client, edit, edit, {"code": code, "kind": "percentage", "value": "20"}
            ).status_code
            == 303
        )
        courier = next(
            m for m in api.get("/shipping-methods", limit=100)["items"] if m["name"] == "Courier"
        )
        removed = post_form(
            client, "/admin/shipping-methods", f"/admin/shipping-methods/{courier['id']}/delete", {}
        )
        assert removed.status_code == 303
    promotion = next(p for p in api.get("/promotions", limit=100)["items"] if p["code"] == code)
    assert (promotion["value"], promotion["active"]) == (20, False)
    assert courier["price"] == 495
    assert courier["free_over"] == 5000
    assert courier["countries"] == ["GB", "IE"]
    assert "Courier" not in [
        m["name"] for m in api.get("/shipping-methods", limit=100)["items"] if m["active"]
    ]
    vat_rate = next(r for r in api.get("/tax-rates", limit=100)["items"] if r["name"] == "VAT")
    assert (vat_rate["rate_bp"], vat_rate["applies_to_shipping"]) == (2000, True)
