"""The product forms' fields and the API bodies they make.

A product is created from one form without JavaScript: up to three options (a name
and comma-separated values), and variant rows, each naming its option values in the
options' order separated by " / " ("M / Red"), with its SKU, price and initial stock.
More rows come from the form's "more rows" button, which sends the form back with
its values kept. A form with no option and no variant row makes a product of one
default variant from the top-level price and stock.

Field names are the API's dotted paths with dashes (``variants-0-price``), so the
API's validation errors land next to the inputs they concern.
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


def options_of(form: Mapping[str, Any]) -> list[dict[str, Any]]:
    options = []
    for index in range(MAX_OPTIONS):
        name = _text(form, f"options-{index}-name")
        values = [v.strip() for v in _text(form, f"options-{index}-values").split(",")]
        values = [v for v in values if v]
        if name or values:
            options.append({"name": name, "values": values})
    return options


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
    variants = []
    seen: set[str] = set()
    for row in range(variant_rows(form)):
        prefix = f"variants-{row}-"
        if any(_text(form, prefix + name) for name in VARIANT_FIELDS):
            variants.append(_variant(form, prefix, options, errors, seen))
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
    form: Mapping[str, Any],
    prefix: str,
    options: list[dict[str, Any]],
    errors: dict[str, str],
    seen: set[str],
) -> dict[str, Any]:
    """One variant row (its inputs named ``prefix`` + field), checked against the
    product's options; its problems go into ``errors``."""
    values = [v.strip() for v in _text(form, prefix + "options").split("/") if v.strip()]
    if len(values) != len(options):
        names = " / ".join(option["name"] for option in options) or "no option"
        errors[prefix + "options"] = f"Give one value per option, in order: {names}."
    # Checked here too: the API names no variant when it refuses these.
    for option, value in zip(options, values, strict=False):
        if value not in option["values"]:
            allowed = ", ".join(option["values"])
            errors[prefix + "options"] = f"“{value}” is not a {option['name']}: {allowed}."
    combination = " / ".join(values)
    if combination and combination in seen:
        errors[prefix + "options"] = f"Another variant is already “{combination}”."
    seen.add(combination)
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
    taken = {
        " / ".join(v["options"][o["name"]] for o in product["options"])
        for v in product["variants"]
        if v["status"] == "active"
    }
    body = _variant(form, "", list(product["options"]), errors, taken)
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
