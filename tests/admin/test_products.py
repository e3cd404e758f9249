"""The products pages against the real system: what a form sends is what the API
holds, and what the API refuses is shown next to the field, the values kept."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from tests.admin.support import (
    Api,
    alert_text,
    csrf_of,
    error_for,
    parse,
    post_form,
    signed_in,
    status_text,
    value_of,
    variant_form,
)
from tests.e2e.system import RunningSystem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("admin")]

SIZES_AND_COLOURS = [("Size", ["S", "M"]), ("Color", ["Red", "Black"])]


def four_variants(sku: str) -> list[dict[str, str]]:
    return [
        {
            "sku": f"{sku}-{size}-{colour}",
            "options": f"{size} / {colour}",
            "price": price,
            "initial_stock": "3",
        }
        for (size, colour), price in zip(
            [("S", "Red"), ("S", "Black"), ("M", "Red"), ("M", "Black")],
            ["19.99", "19.99", "21.50", "21.50"],
            strict=True,
        )
    ]


def unique_sku() -> str:
    return "T" + uuid.uuid4().hex[:8].upper()


def test_a_product_with_options_and_variants_is_created_from_the_form(
    system: RunningSystem,
) -> None:
    sku = unique_sku()
    with signed_in(system) as client:
        form = variant_form(sku, SIZES_AND_COLOURS, four_variants(sku))
        made = post_form(client, "/admin/products/new", "/admin/products/new", form)
        assert made.status_code == 303, alert_text(parse(made))
        product_id = made.headers["location"].split("/")[-1].split("?")[0]
        page = parse(client.get(made.headers["location"]))
    assert "Created" in status_text(page)
    product = Api.as_admin(system).get(f"/products/{product_id}")
    assert product["sku"] == sku
    assert product["options"] == [
        {"name": "Size", "values": ["S", "M"]},
        {"name": "Color", "values": ["Red", "Black"]},
    ]
    assert sorted((v["title"], v["price"], v["available"]) for v in product["variants"]) == [
        ("M / Black", 2150, 3),
        ("M / Red", 2150, 3),
        ("S / Black", 1999, 3),
        ("S / Red", 1999, 3),
    ]
    rows = [row.find("th").get_text() for row in page.select("#variants-title ~ table tbody tr")]
    assert sorted(rows) == ["M / Black", "M / Red", "S / Black", "S / Red"]


def test_a_refused_form_keeps_its_values_and_says_why_next_to_the_field(
    system: RunningSystem,
) -> None:
    sku = unique_sku()
    variants = four_variants(sku)
    variants[1]["price"] = "nineteen"
    variants[2]["options"] = "M / Green"  # not a declared value: the API refuses it
    with signed_in(system) as client:
        form = variant_form(sku, SIZES_AND_COLOURS, variants)
        local = parse(post_form(client, "/admin/products/new", "/admin/products/new", form))
        assert "amount such as 19.99" in error_for(local, "variants-1-price")
        assert value_of(local, "variants-1-price") == "nineteen"
        assert value_of(local, "options-1-values") == "Red, Black"
        variants[1]["price"] = "19.99"
        refused = post_form(
            client,
            "/admin/products/new",
            "/admin/products/new",
            variant_form(sku, SIZES_AND_COLOURS, variants),
        )
        assert refused.status_code == 422
        page = parse(refused)
        assert error_for(page, "variants-2-options") == (
            "'Green' is not a declared value of option 'Color'"
        )
        assert value_of(page, "variants-2-options") == "M / Green"
        assert value_of(page, "name") == f"Product {sku}"

        variants[2]["options"] = "M / Red"
        first = post_form(
            client,
            "/admin/products/new",
            "/admin/products/new",
            variant_form(sku, SIZES_AND_COLOURS, variants),
        )
        assert first.status_code == 303
        again = post_form(
            client,
            "/admin/products/new",
            "/admin/products/new",
            variant_form(sku, SIZES_AND_COLOURS, four_variants(sku)),
        )
        assert again.status_code == 409
        taken = parse(again)
        assert error_for(taken, "sku") == "another product already has this SKU"
        assert error_for(taken, "variants-3-sku") == "another variant has this SKU"
        assert "already exists" in alert_text(taken)


def test_the_apis_errors_land_on_the_rows_and_slots_they_concern(
    system: RunningSystem,
) -> None:
    """Empty rows and option slots are not sent: the API's ``variants.1`` is the
    form's fourth row here, its ``options.0`` the form's second slot."""
    sku = unique_sku()
    form = {
        "name": f"Product {sku}",
        "sku": sku,
        "status": "active",
        "action": "create",
        "rows": "4",
        "options-1-name": "Size",
        "options-1-values": "S, M",
        "variants-0-sku": f"{sku}-S",
        "variants-0-options": "S",
        "variants-0-price": "10",
        "variants-3-sku": f"{sku}-XL",
        "variants-3-options": "XL",
        "variants-3-price": "12",
    }
    with signed_in(system) as client:
        refused = post_form(client, "/admin/products/new", "/admin/products/new", form)
        assert refused.status_code == 422
        page = parse(refused)
        assert error_for(page, "variants-3-options") == (
            "'XL' is not a declared value of option 'Size'"
        )
        assert "Some fields need a correction" in alert_text(page)
        assert value_of(page, "variants-3-options") == "XL"
        assert value_of(page, "options-1-values") == "S, M"

        twice = {**form, "variants-3-options": "S", "options-1-values": "S, M, S"}
        page = parse(post_form(client, "/admin/products/new", "/admin/products/new", twice))
        assert error_for(page, "options-1-values") == "'S' listed more than once"
        once = {**twice, "options-1-values": "S, M"}
        page = parse(post_form(client, "/admin/products/new", "/admin/products/new", once))
        assert error_for(page, "variants-3-options") == ("another variant has the combination 'S'")
        same_sku = {**once, "variants-3-options": "M", "variants-3-sku": f"{sku}-S"}
        conflict = post_form(client, "/admin/products/new", "/admin/products/new", same_sku)
        assert conflict.status_code == 409
        assert error_for(parse(conflict), "variants-3-sku") == "a variant above has this SKU"
        made = post_form(
            client,
            "/admin/products/new",
            "/admin/products/new",
            {**same_sku, **{"variants-3-sku": f"{sku}-M"}},
        )
        assert made.status_code == 303, alert_text(parse(made))
    product_id = made.headers["location"].split("/")[-1].split("?")[0]
    product = Api.as_admin(system).get(f"/products/{product_id}")
    assert sorted(v["sku"] for v in product["variants"]) == [f"{sku}-M", f"{sku}-S"]


def test_stock_is_adjusted_and_the_product_found_by_search(system: RunningSystem) -> None:
    sku = unique_sku()
    api = Api.as_admin(system)
    with signed_in(system) as client:
        form = variant_form(sku, SIZES_AND_COLOURS, four_variants(sku))
        form["name"] = f"Quokka hoodie {sku}"
        made = post_form(client, "/admin/products/new", "/admin/products/new", form)
        detail = made.headers["location"].split("?")[0]
        product_id = detail.split("/")[-1]
        variant = next(
            v for v in api.get(f"/products/{product_id}")["variants"] if v["title"] == "M / Red"
        )
        adjusted = post_form(
            client,
            detail,
            detail + "/stock",
            {"variant_id": variant["id"], "delta": "7", "reason": "delivery"},
        )
        assert adjusted.status_code == 303
        assert "Stock adjusted" in status_text(parse(client.get(adjusted.headers["location"])))
        levels = {
            v["variant_id"]: v for v in api.get(f"/products/{product_id}/inventory")["variants"]
        }
        assert levels[variant["id"]]["on_hand"] == 10

        too_many = post_form(
            client,
            detail,
            detail + "/stock",
            {"variant_id": variant["id"], "delta": "-11", "reason": "count"},
        )
        assert too_many.status_code in (409, 422)
        page = parse(too_many)
        assert alert_text(page)
        assert value_of(page, "delta") == "-11"
        missing = parse(
            post_form(
                client, detail, detail + "/stock", {"variant_id": variant["id"], "delta": "1"}
            )
        )
        assert "Say why" in error_for(missing, "reason")

        found = parse(client.get("/admin/products", params={"q": "quokka hoodie"}))
        names = [a.get_text() for a in found.select("tbody th a")]
        assert f"Quokka hoodie {sku}" in names


def test_details_and_prices_are_edited_and_the_product_archived(system: RunningSystem) -> None:
    sku = unique_sku()
    api = Api.as_admin(system)
    with signed_in(system) as client:
        made = post_form(
            client,
            "/admin/products/new",
            "/admin/products/new",
            {
                "name": "Plain mug",
                "sku": sku,
                "price": "8.00",
                "initial_stock": "2",
                "status": "active",
            },
        )
        assert made.status_code == 303, alert_text(parse(made))
        detail = made.headers["location"].split("?")[0]
        product_id = detail.split("/")[-1]
        product = api.get(f"/products/{product_id}")
        saved = post_form(
            client,
            detail,
            detail,
            {
                "name": "Plain mug, white",
                "slug": product["slug"],
                "description": "Stoneware.",
                "status": "active",
                "category_id": "",
                "version": str(product["version"]),
            },
        )
        assert saved.status_code == 303
        stale = post_form(
            client,
            detail,
            detail,
            {
                "name": "Lost update",
                "slug": product["slug"],
                "description": "",
                "status": "active",
                "category_id": "",
                "version": str(product["version"]),
            },
        )
        assert stale.status_code == 412
        assert "Someone changed this product" in alert_text(parse(stale))
        variant = api.get(f"/products/{product_id}")["variants"][0]
        priced = post_form(
            client,
            detail,
            f"{detail}/variants/{variant['id']}",
            {"price": "9.50", "compare_at_price": "", "version": str(variant["version"])},
        )
        assert priced.status_code == 303
        archived = post_form(client, detail, detail + "/archive", {})
        assert archived.status_code == 303
    after = api.get(f"/products/{product_id}")
    assert after["name"] == "Plain mug, white"
    assert after["description"] == "Stoneware."
    assert after["price"] == 950
    assert after["status"] == "archived"


def test_a_variant_is_added_to_a_product_and_another_archived(system: RunningSystem) -> None:
    sku = unique_sku()
    api = Api.as_admin(system)
    with signed_in(system) as client:
        form = variant_form(sku, SIZES_AND_COLOURS, four_variants(sku)[:3])
        made = post_form(client, "/admin/products/new", "/admin/products/new", form)
        detail = made.headers["location"].split("?")[0]
        product_id = detail.split("/")[-1]
        taken = post_form(
            client,
            detail,
            detail + "/variants",
            {"sku": f"{sku}-AGAIN", "options": "S / Red", "price": "19.99"},
        )
        assert taken.status_code == 422
        assert error_for(parse(taken), "options") == f"variant {sku}-S-Red has this combination"
        assert value_of(parse(taken), "sku") == f"{sku}-AGAIN"
        blue = post_form(
            client,
            detail,
            detail + "/variants",
            {"sku": f"{sku}-S-BLUE", "options": "S / Blue", "price": "19.99"},
        )
        assert blue.status_code == 422
        assert error_for(parse(blue), "options") == (
            "'Blue' is not a declared value of option 'Color'"
        )
        added = post_form(
            client,
            detail,
            detail + "/variants",
            {
                "sku": f"{sku}-M-BLACK",
                "options": "M / Black",
                "price": "22.00",
                "initial_stock": "4",
            },
        )
        assert added.status_code == 303, alert_text(parse(added))
        variants = {v["title"]: v for v in api.get(f"/products/{product_id}")["variants"]}
        assert (variants["M / Black"]["price"], variants["M / Black"]["available"]) == (2200, 4)
        archived = post_form(
            client, detail, f"{detail}/variants/{variants['S / Black']['id']}/archive", {}
        )
        assert archived.status_code == 303
    variants = {v["title"]: v for v in api.get(f"/products/{product_id}")["variants"]}
    assert variants["S / Black"]["status"] == "archived"
    assert variants["M / Black"]["status"] == "active"


def test_a_picture_is_added_refused_when_it_is_none_and_deleted(system: RunningSystem) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(picture, format="PNG")
    api = Api.as_admin(system)
    with signed_in(system) as client:
        made = post_form(
            client,
            "/admin/products/new",
            "/admin/products/new",
            {"name": "Red square", "sku": unique_sku(), "price": "3.00", "status": "active"},
        )
        detail = made.headers["location"].split("?")[0]
        product_id = detail.split("/")[-1]
        token = csrf_of(parse(client.get(detail)))
        not_an_image = client.post(
            detail + "/images",
            data={"csrf_token": token},
            files={"file": ("notes.png", b"not a picture at all", "image/png")},
        )
        assert not_an_image.status_code == 415
        assert error_for(parse(not_an_image), "file")
        added = client.post(
            detail + "/images",
            data={"csrf_token": token},
            files={"file": ("square.png", picture.getvalue(), "image/png")},
        )
        assert added.status_code == 303, alert_text(parse(added))
        page = parse(client.get(detail))
        images = api.get(f"/products/{product_id}")["images"]
        assert len(images) == 1
        assert (images[0]["width"], images[0]["height"]) == (64, 48)
        shown = page.select(".pictures img")
        assert [img["src"] for img in shown] == [images[0]["thumbnail_url"]]
        assert shown[0]["alt"] == "Picture 1 of Red square"
        forged = client.post(
            detail + "/images", files={"file": ("square.png", picture.getvalue(), "image/png")}
        )
        assert forged.status_code == 403
        deleted = post_form(client, detail, f"{detail}/images/{images[0]['id']}/delete", {})
        assert deleted.status_code == 303
    assert api.get(f"/products/{product_id}")["images"] == []
