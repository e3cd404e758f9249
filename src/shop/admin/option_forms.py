"""The product page's options form, sent as ``PATCH /products/{id}`` with ``options``
(docs/variants.md, "Changing options").

One row per current option: its name (another name renames it: ``renamed_from``, from
the row's hidden ``current`` name), its values comma-separated in order, and a checkbox
that removes it. In the values, ``old=new`` renames a current value (the variants with
it follow: ``renamed_values``); a value left out is removed. Then one blank row adds an
option, with the value every existing variant takes (the first value when left empty).

Removed rows and a blank new row are not sent, so the API's ``options.N`` is the N-th
row *sent*: :func:`input_for` numbers the API's errors back to the form's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shop.admin.product_forms import MAX_OPTIONS, FormProblems

RENAME = "="
NEW_ROW_PARTS = ("name", "values", "initial_value")
# The API's field below ``options.N`` -> the row's input that says it.
INPUT_OF = {
    "name": "name",
    "renamed_from": "name",
    "values": "values",
    "renamed_values": "values",
    "initial_value": "initial_value",
}


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _listed(form: Mapping[str, Any], row: int) -> list[str]:
    values = (v.strip() for v in _text(form, f"options-{row}-values").split(","))
    return [v for v in values if v]


def _is_current(form: Mapping[str, Any], row: int) -> bool:
    return bool(_text(form, f"options-{row}-current"))


def rows_sent(form: Mapping[str, Any]) -> list[int]:
    """The form's rows sent to the API, in order: the current options not removed, and
    a new option's row filled in. The API's ``options.N`` is the form's row ``[N]``."""
    sent = []
    for row in range(MAX_OPTIONS):
        if _is_current(form, row):
            if not form.get(f"options-{row}-remove"):
                sent.append(row)
        elif any(_text(form, f"options-{row}-{part}") for part in NEW_ROW_PARTS):
            sent.append(row)
    return sent


def input_for(field: str, form: Mapping[str, Any]) -> str | None:
    """The input an API error's field path concerns (``options.1.renamed_values`` is
    the values input of the second row sent), or None when it belongs to no row (the
    list as a whole: ``options``)."""
    parts = field.split(".")
    if len(parts) < 2 or parts[0] != "options" or not parts[1].isdigit():
        return None
    sent = rows_sent(form)
    if int(parts[1]) >= len(sent):
        return None
    row = sent[int(parts[1])]
    part = INPUT_OF.get(parts[2], "name") if len(parts) > 2 else "name"
    if part == "initial_value" and _is_current(form, row):
        part = "name"  # only a new option's row has that input
    return f"options-{row}-{part}"


def _current_option(
    form: Mapping[str, Any], row: int, declared: Mapping[str, list[str]], errors: dict[str, str]
) -> dict[str, Any]:
    """A current option's row: renamed if its name changed, each ``old=new`` a renamed
    value. A listed value that is one of the current values is kept as it is, even with
    an ``=`` in it."""
    current = _text(form, f"options-{row}-current")
    name = _text(form, f"options-{row}-name")
    old_values = declared.get(current, [])
    values: list[str] = []
    renamed: dict[str, str] = {}
    for token in _listed(form, row):
        if token in old_values or RENAME not in token:
            values.append(token)
            continue
        old, new = (part.strip() for part in token.split(RENAME, 1))
        if old not in old_values:
            known = ", ".join(old_values)
            errors[f"options-{row}-values"] = (
                f"{old!r} is not a value of {current}: to rename a value, write"
                f" old=new with one of {known}."
            )
        elif not new:
            errors[f"options-{row}-values"] = f"Write the new name of {old!r} after '='."
        elif old in renamed:
            errors[f"options-{row}-values"] = f"{old!r} is renamed twice."
        else:
            renamed[old] = new
            values.append(new)
    option: dict[str, Any] = {"name": name, "values": values}
    if name != current:
        option["renamed_from"] = current
    if renamed:
        option["renamed_values"] = renamed
    return option


def _new_option(form: Mapping[str, Any], row: int) -> dict[str, Any]:
    values = _listed(form, row)
    option: dict[str, Any] = {"name": _text(form, f"options-{row}-name"), "values": values}
    initial = _text(form, f"options-{row}-initial_value") or (values[0] if values else "")
    if initial:
        option["initial_value"] = initial
    return option


def options_body(form: Mapping[str, Any], product: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``PATCH /products/{id}`` changing only the options. Raises
    :class:`FormProblems` for what only the form can see (an ``old=new`` naming no
    current value); the rest is the API's to say."""
    declared = {option["name"]: list(option["values"]) for option in product["options"]}
    errors: dict[str, str] = {}
    options = [
        _current_option(form, row, declared, errors)
        if _is_current(form, row)
        else _new_option(form, row)
        for row in rows_sent(form)
    ]
    if errors:
        raise FormProblems(errors)
    return {"options": options}


def option_form_values(product: Mapping[str, Any]) -> dict[str, str]:
    """The options form as the product has them."""
    values: dict[str, str] = {}
    for row, option in enumerate(product["options"]):
        values[f"options-{row}-name"] = option["name"]
        values[f"options-{row}-values"] = ", ".join(option["values"])
    return values
