"""Every page of the dashboard, parsed: one h1, the landmarks, a label for every
input, unique ids, tables with header cells. (axe-core is not available offline;
these are the checks it would make first.)"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from bs4 import BeautifulSoup, Tag

from tests.admin.support import ADDRESS, Api, dashboard, new_customer, parse, signed_in
from tests.e2e.system import RunningSystem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("admin")]

NOT_LABELLED = {"hidden", "submit", "button", "reset"}


def problems(page: BeautifulSoup, signed_in: bool) -> list[str]:
    found = []
    html = page.find("html")
    if not isinstance(html, Tag) or not html.get("lang"):
        found.append("no lang on <html>")
    headings = page.find_all("h1")
    if len(headings) != 1:
        found.append(f"{len(headings)} h1")
    for landmark in ("header", "main", "footer", *(["nav"] if signed_in else [])):
        if len(page.find_all(landmark)) < 1:
            found.append(f"no <{landmark}>")
    if len(page.find_all("main")) > 1:
        found.append("more than one <main>")
    ids = Counter(str(tag["id"]) for tag in page.find_all(id=True))
    found += [f"id {name!r} used {count} times" for name, count in ids.items() if count > 1]
    labelled = {str(label.get("for")) for label in page.find_all("label")}
    for field in page.find_all(["input", "select", "textarea"]):
        if field.name == "input" and field.get("type", "text") in NOT_LABELLED:
            continue
        if field.get("id") not in labelled and not field.get("aria-label"):
            found.append(f"no label for {field.name} {field.get('name')!r}")
    for table in page.find_all("table"):
        if not table.find("th"):
            found.append("a table without header cells")
    for button in page.find_all("button"):
        if not button.get_text(strip=True):
            found.append("a button without text")
    return found


def test_every_page_has_one_h1_landmarks_and_labelled_inputs(system: RunningSystem) -> None:
    api = Api.as_admin(system)
    sku = "A" + uuid.uuid4().hex[:8].upper()
    body = {
        "sku": sku,
        "name": "Labelled lamp",
        "status": "active",
        "options": [{"name": "Color", "values": ["Red", "Blue"]}],
        "variants": [
            {"sku": sku + "-R", "options": {"Color": "Red"}, "price": 3000, "initial_stock": 4},
            {"sku": sku + "-B", "options": {"Color": "Blue"}, "price": 3000, "initial_stock": 4},
        ],
    }
    product = api.post("/products", body)
    address, customer = new_customer(system)
    order = customer.post(
        "/orders",
        {
            "items": [{"variant_id": product["variants"][0]["id"], "quantity": 1}],
            "shipping_address": ADDRESS,
        },
    )
    users = api.get("/auth/users", email=address)["items"]
    api.post("/categories", {"name": f"Lamps {sku}"})
    promotion = api.post("/promotions", {"code": sku, "kind": "free_shipping"})
    pages = [
        "/admin/",
        "/admin/?threshold=1000",
        "/admin/?threshold=many",
        "/admin/products",
        "/admin/products?q=lamp",
        "/admin/products/new",
        f"/admin/products/{product['id']}",
        "/admin/orders",
        f"/admin/orders/{order['id']}",
        "/admin/categories",
        "/admin/customers",
        f"/admin/customers/{users[0]['id']}",
        "/admin/promotions",
        f"/admin/promotions/{promotion['id']}",
        "/admin/shipping-methods",
        "/admin/tax-rates",
    ]
    found = {}
    with signed_in(system) as client:
        for path in pages:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            found[path] = problems(parse(answer), signed_in=True)
    with dashboard(system) as anonymous:
        found["/admin/login"] = problems(parse(anonymous.get("/admin/login")), signed_in=False)
    assert {path: issues for path, issues in found.items() if issues} == {}
