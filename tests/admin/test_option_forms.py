"""The options form's rows as the API's ``options`` change, and the API's errors back on
the rows they concern (no system needed)."""

from __future__ import annotations

import pytest

from shop.admin.option_forms import input_for, option_form_values, options_body, rows_sent
from shop.admin.product_forms import FormProblems

PRODUCT = {
    "options": [
        {"name": "Size", "values": ["S", "M", "L"]},
        {"name": "Color", "values": ["Red", "a=b"]},
    ]
}


def form(**fields: str) -> dict[str, str]:
    """The form as the page shows it for PRODUCT, changed by ``fields``."""
    shown = {
        "version": "3",
        "options-0-current": "Size",
        "options-1-current": "Color",
        **option_form_values(PRODUCT),
    }
    return {**shown, **fields}


def test_the_form_as_shown_sends_the_options_unchanged() -> None:
    assert form()["options-1-values"] == "Red, a=b"
    assert options_body(form(), PRODUCT) == {
        "options": [
            {"name": "Size", "values": ["S", "M", "L"]},
            # A current value with "=" in it is that value, not a rename.
            {"name": "Color", "values": ["Red", "a=b"]},
        ]
    }


def test_renames_of_options_and_values_additions_and_a_new_option() -> None:
    body = options_body(
        form(
            **{
                "options-0-name": "Length",
                "options-0-values": "S, M = Medium,, XL",
                "options-2-name": "Material",
                "options-2-values": "Cotton, Wool",
            }
        ),
        PRODUCT,
    )
    assert body["options"] == [
        {
            "name": "Length",
            "values": ["S", "Medium", "XL"],
            "renamed_from": "Size",
            "renamed_values": {"M": "Medium"},
        },
        {"name": "Color", "values": ["Red", "a=b"]},
        {"name": "Material", "values": ["Cotton", "Wool"], "initial_value": "Cotton"},
    ]
    chosen = options_body(
        form(
            **{"options-2-name": "Fit", "options-2-values": "Slim, Loose"},
            **{"options-2-initial_value": "Loose"},
        ),
        PRODUCT,
    )
    assert chosen["options"][2]["initial_value"] == "Loose"


def test_a_removed_option_and_a_blank_new_row_are_not_sent() -> None:
    removed = form(**{"options-0-remove": "on", "options-2-name": " "})
    assert rows_sent(removed) == [1]
    assert options_body(removed, PRODUCT) == {
        "options": [{"name": "Color", "values": ["Red", "a=b"]}]
    }
    everything = form(**{"options-0-remove": "on", "options-1-remove": "on"})
    assert options_body(everything, PRODUCT) == {"options": []}


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ("S, Lx=XL", "'Lx' is not a value of Size: to rename a value, write old=new with one of"),
        ("S, L=", "Write the new name of 'L' after '='."),
        ("L=XL, L=XXL", "'L' is renamed twice."),
    ],
)
def test_a_rename_the_form_cannot_read_is_refused_at_the_values(values: str, words: str) -> None:
    with pytest.raises(FormProblems) as refused:
        options_body(form(**{"options-0-values": values}), PRODUCT)
    assert words in refused.value.errors["options-0-values"]


def test_the_apis_errors_land_on_the_rows_sent() -> None:
    """With Size removed, the API's ``options.0`` is the form's Color row and its
    ``options.1`` the new option's row."""
    values = form(**{"options-0-remove": "on", "options-2-name": "Fit", "options-2-values": "Slim"})
    assert input_for("options.0.values", values) == "options-1-values"
    assert input_for("options.0.renamed_values", values) == "options-1-values"
    assert input_for("options.0.values.3", values) == "options-1-values"
    assert input_for("options.0.renamed_from", values) == "options-1-name"
    assert input_for("options.0", values) == "options-1-name"
    # Only a new option's row has an initial value to show the error at.
    assert input_for("options.0.initial_value", values) == "options-1-name"
    assert input_for("options.1.initial_value", values) == "options-2-initial_value"
    assert input_for("options.1.name", values) == "options-2-name"
    assert input_for("options.2.values", values) is None  # no third row was sent
    assert input_for("options", values) is None  # the list as a whole: the form's top
    assert input_for("body", values) is None
