"""The new-product form's fields as the API body they make (no system needed)."""

from __future__ import annotations

import pytest

from shop.admin.product_forms import (
    FormProblems,
    adjustment_body,
    create_body,
    input_for,
    new_product_inputs,
)
from shop.admin.web import minor_units, money


def form(**fields: str) -> dict[str, str]:
    return {"name": "Hoodie", "sku": "HOOD", "status": "active", "rows": "4", **fields}


def test_options_and_variant_rows_make_the_apis_options_and_variants() -> None:
    body = create_body(
        form(
            **{
                "options-0-name": "Size",
                "options-0-values": "S, M,, ",
                "options-1-name": "Color",
                "options-1-values": "Red,Black",
                "variants-0-sku": "HOOD-S-RED",
                "variants-0-options": "S / Red",
                "variants-0-price": "42",
                "variants-0-initial_stock": "5",
                "variants-2-sku": "HOOD-M-BLACK",
                "variants-2-options": " M/Black ",
                "variants-2-price": "45.5",
                "variants-2-compare_at_price": "50.00",
            }
        )
    )
    assert body["options"] == [
        {"name": "Size", "values": ["S", "M"]},
        {"name": "Color", "values": ["Red", "Black"]},
    ]
    assert body["variants"] == [
        {
            "sku": "HOOD-S-RED",
            "options": {"Size": "S", "Color": "Red"},
            "price": 4200,
            "initial_stock": 5,
        },
        {
            "sku": "HOOD-M-BLACK",
            "options": {"Size": "M", "Color": "Black"},
            "price": 4550,
            "compare_at_price": 5000,
        },
    ]
    assert "price" not in body  # derived from the variants: sending it is a 422


def test_without_variants_the_product_has_a_price_and_stock() -> None:
    body = create_body(form(price="19.99", initial_stock="3", slug="hoodie"))
    assert (body["price"], body["initial_stock"], body["slug"]) == (1999, 3, "hoodie")
    assert "variants" not in body
    assert "options" not in body


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"price": "nine"}, "price", "amount such as 19.99"),
        ({"price": "1.999"}, "price", "two decimals"),
        ({}, "price", "Enter a price"),
        (
            {
                "options-0-name": "Size",
                "options-0-values": "S",
                "variants-0-sku": "A",
                "variants-0-options": "S / Red",
                "variants-0-price": "1",
            },
            "variants-0-options",
            "one value per option",
        ),
        (
            {"variants-0-sku": "A", "variants-0-initial_stock": "two", "variants-0-price": "1"},
            "variants-0-initial_stock",
            "whole number",
        ),
    ],
)
def test_what_the_form_refuses_before_asking_the_api(
    fields: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(FormProblems) as refused:
        create_body(form(**fields))
    assert words in refused.value.errors[field]


def test_undeclared_values_and_repeated_combinations_are_left_to_the_api() -> None:
    """The API checks them, and names the variant: the form checks only what the API
    cannot see (one value per option in "M / Red")."""
    body = create_body(
        form(
            **{
                "options-0-name": "Size",
                "options-0-values": "S",
                "variants-0-sku": "A",
                "variants-0-options": "XL",
                "variants-0-price": "1",
                "variants-1-sku": "B",
                "variants-1-options": "XL",
                "variants-1-price": "1",
            }
        )
    )
    assert [v["options"] for v in body["variants"]] == [{"Size": "XL"}, {"Size": "XL"}]


def test_the_apis_field_paths_name_the_inputs_of_the_rows_and_slots_filled_in() -> None:
    """The API counts the variants and options it was sent; the form's empty rows and
    slots are not sent, so ``variants.1`` may be the form's fourth row."""
    values = form(
        rows="6",
        **{
            "options-1-name": "Size",
            "options-1-values": "S, M",
            "variants-0-sku": "A",
            "variants-0-options": "S",
            "variants-3-sku": "B",
            "variants-3-options": "XL",
        },
    )
    inputs = new_product_inputs(values)
    assert {"variants-5-price", "options-2-values", "sku", "initial_stock"} <= inputs
    assert "variants-6-price" not in inputs
    assert input_for("variants.1.options.Size", inputs, values) == "variants-3-options"
    assert input_for("variants.0.sku", inputs, values) == "variants-0-sku"
    assert input_for("options.0.values", inputs, values) == "options-1-values"
    assert input_for("sku", inputs, values) == "sku"
    assert input_for("variants.1", inputs, values) is None
    assert input_for("variants.7.price", inputs, values) is None  # no such variant sent
    assert input_for("body", inputs, values) is None
    # A product page's form: its inputs are what it posted, nothing renumbered.
    assert input_for("options.Color", {"sku", "options", "price"}) == "options"


def test_a_stock_adjustment_needs_a_whole_delta_and_a_reason() -> None:
    assert adjustment_body({"delta": "-3", "reason": "breakage", "variant_id": "v"}) == {
        "delta": -3,
        "reason": "breakage",
        "variant_id": "v",
    }
    with pytest.raises(FormProblems) as refused:
        adjustment_body({"delta": "1.5", "reason": " "})
    assert set(refused.value.errors) == {"delta", "reason"}


def test_amounts_go_to_minor_units_and_back() -> None:
    assert [minor_units(t) for t in ("0", "19.99", "1,234.50", " 7 ")] == [0, 1999, 123450, 700]
    assert [money(v) for v in (0, 5, 1999, 123450, -250)] == [
        "0.00",
        "0.05",
        "19.99",
        "1,234.50",
        "-2.50",
    ]
    assert money(1999, "EUR") == "19.99 EUR"
    for text in ("", "abc", "1e3x", "NaN", "Infinity"):
        with pytest.raises(ValueError, match="amount"):
            minor_units(text)
