"""A product's options changed from its page against the real system: the form sent
as the page shows it, with what a member of staff typed; what the API then holds, and
what it refuses shown next to the input it concerns, the values kept."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag

from tests.admin.support import (
    Api,
    alert_text,
    error_for,
    parse,
    post_form,
    signed_in,
    status_text,
    value_of,
)
from tests.e2e.system import RunningSystem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("admin")]


def unique_sku() -> str:
    return "O" + uuid.uuid4().hex[:8].upper()


def make_product(api: Api, sku: str) -> dict[str, Any]:
    """Sizes S and M, colours Red and Black, three of the four combinations."""
    variants = [("S", "Red"), ("M", "Red"), ("M", "Black")]
    body = {
        "sku": sku,
        "name": f"Options {sku}",
        "status": "active",
        "options": [
            {"name": "Size", "values": ["S", "M"]},
            {"name": "Color", "values": ["Red", "Black"]},
        ],
        "variants": [
            {
                "sku": f"{sku}-{size}-{color.upper()}",
                "options": {"Size": size, "Color": color},
                "price": 1000,
                "initial_stock": 2,
            }
            for size, color in variants
        ],
    }
    product: dict[str, Any] = api.post("/products", body)
    return product


def options_form(page: BeautifulSoup) -> dict[str, str]:
    """The options form's fields as a browser would send them untouched (CSRF token,
    version, hidden current names, text inputs, the checked boxes)."""
    form = page.select_one('form[action$="/options"]')
    assert isinstance(form, Tag), "no options form on the page"
    fields = {}
    for field in form.find_all("input"):
        if field.get("type") == "checkbox" and not field.has_attr("checked"):
            continue
        fields[str(field["name"])] = str(field.get("value", ""))
    return fields


def send_options(client: httpx.Client, detail: str, **changes: str) -> httpx.Response:
    """The options form of the page at ``detail``, as shown, with ``changes`` typed."""
    fields = options_form(parse(client.get(detail)))
    return client.post(detail + "/options", data={**fields, **changes})


def titles(api: Api, product_id: str) -> dict[str, str]:
    return {v["sku"]: v["title"] for v in api.get(f"/products/{product_id}")["variants"]}


def test_a_value_is_added_and_a_variant_with_it_can_then_be_added(
    system: RunningSystem,
) -> None:
    api = Api.as_admin(system)
    sku = unique_sku()
    product = make_product(api, sku)
    detail = f"/admin/products/{product['id']}"
    with signed_in(system) as client:
        shown = options_form(parse(client.get(detail)))
        assert (shown["options-0-name"], shown["options-0-values"]) == ("Size", "S, M")
        assert (shown["options-1-name"], shown["options-1-values"]) == ("Color", "Red, Black")
        assert shown["options-2-name"] == ""  # the blank row adding an option
        saved = send_options(client, detail, **{"options-0-values": "S, M, L"})
        assert saved.status_code == 303, alert_text(parse(saved))
        assert "Saved" in status_text(parse(client.get(saved.headers["location"])))
        assert api.get(f"/products/{product['id']}")["options"] == [
            {"name": "Size", "values": ["S", "M", "L"]},
            {"name": "Color", "values": ["Red", "Black"]},
        ]
        added = post_form(
            client,
            detail,
            detail + "/variants",
            {"sku": f"{sku}-L-RED", "options": "L / Red", "price": "12.00"},
        )
        assert added.status_code == 303, alert_text(parse(added))
    assert titles(api, product["id"])[f"{sku}-L-RED"] == "L / Red"


def test_renamed_values_and_options_carry_the_variants_along(system: RunningSystem) -> None:
    api = Api.as_admin(system)
    sku = unique_sku()
    product = make_product(api, sku)
    detail = f"/admin/products/{product['id']}"
    with signed_in(system) as client:
        renamed = send_options(
            client, detail, **{"options-0-values": "S, M=Medium", "options-1-name": "Colour"}
        )
        assert renamed.status_code == 303, alert_text(parse(renamed))
        after = api.get(f"/products/{product['id']}")
        assert after["options"] == [
            {"name": "Size", "values": ["S", "Medium"]},
            {"name": "Colour", "values": ["Red", "Black"]},
        ]
        assert sorted((v["title"], v["options"]) for v in after["variants"]) == [
            ("Medium / Black", {"Size": "Medium", "Colour": "Black"}),
            ("Medium / Red", {"Size": "Medium", "Colour": "Red"}),
            ("S / Red", {"Size": "S", "Colour": "Red"}),
        ]
        page = parse(client.get(detail))
        rows = [
            row.find("th").get_text() for row in page.select("#variants-title ~ table tbody tr")
        ]
        assert sorted(rows) == ["Medium / Black", "Medium / Red", "S / Red"]

        material = send_options(
            client,
            detail,
            **{"options-2-name": "Material", "options-2-values": "Cotton, Wool"},
        )
        assert material.status_code == 303, alert_text(parse(material))
        assert titles(api, product["id"])[f"{sku}-S-RED"] == "S / Red / Cotton"
        shown = options_form(parse(client.get(detail)))
        assert shown["options-2-values"] == "Cotton, Wool"
        removed = send_options(client, detail, **{"options-2-remove": "on"})
        assert removed.status_code == 303, alert_text(parse(removed))
    assert titles(api, product["id"]) == {
        f"{sku}-S-RED": "S / Red",
        f"{sku}-M-RED": "Medium / Red",
        f"{sku}-M-BLACK": "Medium / Black",
    }


def test_a_value_in_use_removed_is_refused_next_to_its_values_as_typed(
    system: RunningSystem,
) -> None:
    """Size removed by its checkbox, Black left out of Color: the API's ``options.0``
    is the form's Color row, where its message is shown."""
    api = Api.as_admin(system)
    sku = unique_sku()
    product = make_product(api, sku)
    detail = f"/admin/products/{product['id']}"
    with signed_in(system) as client:
        refused = send_options(
            client, detail, **{"options-0-remove": "on", "options-1-values": "Red, Blue"}
        )
        assert refused.status_code == 422
        page = parse(refused)
        in_use = f"'Black' of option 'Color' is used by the active variants {sku}-M-BLACK"
        assert error_for(page, "options-1-values").startswith(in_use)
        assert "archive them first" in alert_text(page)
        assert value_of(page, "options-1-values") == "Red, Blue"
        kept = options_form(page)
        assert kept["options-0-remove"] == "on"

        unreadable = send_options(client, detail, **{"options-0-values": "S, Mx=XL"})
        assert unreadable.status_code == 422
        page = parse(unreadable)
        assert error_for(page, "options-0-values").startswith("'Mx' is not a value of Size")
        assert value_of(page, "options-0-values") == "S, Mx=XL"

        # What the API refuses of the list as a whole is said at the top of the form, once.
        collide = send_options(client, detail, **{"options-0-remove": "on"})
        assert collide.status_code == 422
        said = alert_text(parse(collide))
        assert said.count("would both be 'Red'") == 1, said
        assert f"{sku}-S-RED" in said
        assert f"{sku}-M-RED" in said
        twice = send_options(client, detail, **{"options-2-name": "Size", "options-2-values": "XL"})
        assert twice.status_code == 422
        page = parse(twice)
        assert "another option is named 'Size'" in alert_text(page)
        assert value_of(page, "options-2-name") == "Size"
    assert api.get(f"/products/{product['id']}")["options"] == product["options"]


def test_a_change_from_a_stale_page_is_refused(system: RunningSystem) -> None:
    api = Api.as_admin(system)
    product = make_product(api, unique_sku())
    detail = f"/admin/products/{product['id']}"
    with signed_in(system) as client:
        stale = options_form(parse(client.get(detail)))
        meanwhile = api.client.patch(
            f"/products/{product['id']}",
            json={"name": "Renamed meanwhile"},
            headers={"if-match": f'"v{product["version"]}"'},
        )
        assert meanwhile.status_code == 200, meanwhile.text
        refused = client.post(detail + "/options", data={**stale, "options-0-values": "S"})
        assert refused.status_code == 412
        page = parse(refused)
        assert "Someone changed this product" in alert_text(page)
        assert options_form(page)["version"] == str(meanwhile.json()["version"])
    assert api.get(f"/products/{product['id']}")["options"] == product["options"]


def test_a_product_without_options_gets_its_first_one(system: RunningSystem) -> None:
    """Its one variant takes the value typed as the one existing variants take."""
    api = Api.as_admin(system)
    sku = unique_sku()
    body = {"sku": sku, "name": f"Plain {sku}", "status": "active", "price": 500}
    product = api.post("/products", body)
    detail = f"/admin/products/{product['id']}"
    with signed_in(system) as client:
        shown = options_form(parse(client.get(detail)))
        assert not any(name.endswith("-current") for name in shown)
        added = send_options(
            client,
            detail,
            **{
                "options-0-name": "Size",
                "options-0-values": "S, M",
                "options-0-initial_value": "M",
            },
        )
        assert added.status_code == 303, alert_text(parse(added))
    after = api.get(f"/products/{product['id']}")
    assert after["options"] == [{"name": "Size", "values": ["S", "M"]}]
    assert [(v["title"], v["options"]) for v in after["variants"]] == [("M", {"Size": "M"})]
