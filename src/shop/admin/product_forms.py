"""The product forms' fields and the API bodies they make.

A product is created from one form without JavaScript: up to three options (a name
and comma-separated values), and variant rows, each naming its option values in the
options' order separated by " / " ("M / Red"), with its SKU, price and initial stock.
More rows come from the form's "more rows" button, which sends the form back with
its values kept. A form with no option and no variant row makes a product of one
default variant from the top-level price and stock.

Field names are the API's dotted paths with dashes (``variants-0-price``), so the
API's errors land next to the inputs they concern (:func:`input_for`): the API counts
only the rows and option slots that were filled in, the form counts them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shop.admin.web import minor_units

MAX_OPTIONS = 3
DEFAULT_VARIANT_ROWS = 4
MAX_VARIANT_ROWS = 100
VARIANT_FIELDS = ("sku", "options", "price", "compare_at_price", "initial_stock")
PRODUCT_STATUSES = [("draft", "Draft"), ("active", "Active"), ("archived", "Archived")]


class FormProblems(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("the form is not valid")
        self.errors = errors


def variant_rows(form: Mapping[str, Any], wanted: int | None = None) -> int:
    try:
        rows = int(form.get("rows") or DEFAULT_VARIANT_ROWS)
    except ValueError:
        rows = DEFAULT_VARIANT_ROWS
    return max(1, min(MAX_VARIANT_ROWS, wanted if wanted is not None else rows))


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _amount(form: Mapping[str, Any], name: str, errors: dict[str, str]) -> int | None:
    text = _text(form, name)
    if not text:
        return None
    try:
        return minor_units(text)
    except ValueError as exc:
        errors[name] = str(exc)
        return None


def _count(form: Mapping[str, Any], name: str, errors: dict[str, str]) -> int | None:
    text = _text(form, name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors[name] = "Enter a whole number."
        return None


def _option(form: Mapping[str, Any], slot: int) -> dict[str, Any]:
    values = [v.strip() for v in _text(form, f"options-{slot}-values").split(",")]
    return {"name": _text(form, f"options-{slot}-name"), "values": [v for v in values if v]}


def option_slots_sent(form: Mapping[str, Any]) -> list[int]:
    """The option slots filled in: the API's ``options.N`` is the form's slot ``[N]``."""
    return [slot for slot in range(MAX_OPTIONS) if any(_option(form, slot).values())]


def variant_rows_sent(form: Mapping[str, Any]) -> list[int]:
    """The variant rows filled in: the API's ``variants.N`` is the form's row ``[N]``."""
    return [
        row
        for row in range(variant_rows(form))
        if any(_text(form, f"variants-{row}-{name}") for name in VARIANT_FIELDS)
    ]


def options_of(form: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [_option(form, slot) for slot in option_slots_sent(form)]


def new_product_inputs(form: Mapping[str, Any]) -> set[str]:
    """The names of the new-product form's inputs."""
    names = {"name", "sku", "slug", "description", "category_id", "status", "price"}
    names.add("initial_stock")
    names |= {
        f"options-{slot}-{part}" for slot in range(MAX_OPTIONS) for part in ("name", "values")
    }
    names |= {f"variants-{row}-{f}" for row in range(variant_rows(form)) for f in VARIANT_FIELDS}
    return names


def input_for(field: str, inputs: set[str], form: Mapping[str, Any] | None = None) -> str | None:
    """The input an API error's field path concerns: ``variants.1.options.Size`` is
    the input ``variants-4-options`` when the API's second variant was the form's fifth
    row (``form``: the new-product form, whose rows and slots the API renumbers); the
    deepest input on the path, or None when the error belongs to no input."""
    parts = field.split(".")
    renumbered = {"variants": variant_rows_sent, "options": option_slots_sent}
    if form is not None and len(parts) > 1 and parts[1].isdigit() and parts[0] in renumbered:
        placed = renumbered[parts[0]](form)
        if int(parts[1]) >= len(placed):
            return None
        parts[1] = str(placed[int(parts[1])])
    while parts:
        name = "-".join(parts)
        if name in inputs:
            return name
        parts.pop()
    return None


def create_body(form: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``POST /products``; raises :class:`FormProblems` for what the API
    could not even be asked (an amount that is no amount ...)."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        "sku": _text(form, "sku"),
        "name": _text(form, "name"),
        "description": _text(form, "description"),
        "status": _text(form, "status") or "draft",
    }
    for optional in ("slug", "category_id"):
        if _text(form, optional):
            body[optional] = _text(form, optional)
    options = options_of(form)
    variants = [
        _variant(form, f"variants-{row}-", options, errors) for row in variant_rows_sent(form)
    ]
    if options:
        body["options"] = options
    if variants:
        body["variants"] = variants
    else:
        body["price"] = _amount(form, "price", errors)
        if body["price"] is None and "price" not in errors:
            errors["price"] = "Enter a price, or add variants below."
        body["initial_stock"] = _count(form, "initial_stock", errors) or 0
    if errors:
        raise FormProblems(errors)
    return body


def _variant(
    form: Mapping[str, Any], prefix: str, options: list[dict[str, Any]], errors: dict[str, str]
) -> dict[str, Any]:
    """One variant row (its inputs named ``prefix`` + field); its problems go into
    ``errors``. Only what the API cannot see is checked here: that "M / Red" gives one
    value per option (the API checks the values, and names the variant it refuses)."""
    values = [v.strip() for v in _text(form, prefix + "options").split("/") if v.strip()]
    if len(values) != len(options):
        names = " / ".join(option["name"] for option in options) or "no option"
        errors[prefix + "options"] = f"Give one value per option, in order: {names}."
    variant: dict[str, Any] = {
        "sku": _text(form, prefix + "sku"),
        "options": {o["name"]: v for o, v in zip(options, values, strict=False)},
        "price": _amount(form, prefix + "price", errors),
    }
    compare_at = _amount(form, prefix + "compare_at_price", errors)
    if compare_at is not None:
        variant["compare_at_price"] = compare_at
    stock = _count(form, prefix + "initial_stock", errors)
    if stock is not None:
        variant["initial_stock"] = stock
    if variant["price"] is None and prefix + "price" not in errors:
        errors[prefix + "price"] = "Enter the variant's price."
    return variant


def new_variant_body(form: Mapping[str, Any], product: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /products/{id}/variants``: one more combination of the product's options."""
    errors: dict[str, str] = {}
    body = _variant(form, "", list(product["options"]), errors)
    if errors:
        raise FormProblems(errors)
    return body


def update_body(form: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "description": _text(form, "description"),
        "status": _text(form, "status"),
        "category_id": _text(form, "category_id") or None,
    }
    if _text(form, "slug"):
        body["slug"] = _text(form, "slug")
    return body


def variant_update_body(form: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"price": _amount(form, "price", errors)}
    if body["price"] is None and "price" not in errors:
        errors["price"] = "Enter the variant's price."
    body["compare_at_price"] = _amount(form, "compare_at_price", errors)
    if _text(form, "status"):
        body["status"] = _text(form, "status")
    if errors:
        raise FormProblems(errors)
    return body


def adjustment_body(form: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    delta = _count(form, "delta", errors)
    if delta is None and "delta" not in errors:
        errors["delta"] = "Enter how many units to add (or remove, with a minus sign)."
    reason = _text(form, "reason")
    if not reason:
        errors["reason"] = "Say why the stock changes (a delivery, a count, breakage)."
    if errors:
        raise FormProblems(errors)
    body: dict[str, Any] = {"delta": delta, "reason": reason}
    if _text(form, "variant_id"):
        body["variant_id"] = _text(form, "variant_id")
    return body


def product_form_values(product: Mapping[str, Any]) -> dict[str, str]:
    return {
        "name": product["name"],
        "slug": product["slug"],
        "description": product["description"],
        "status": product["status"],
        "category_id": product["category_id"] or "",
    }
