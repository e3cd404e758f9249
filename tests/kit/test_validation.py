"""Request bodies refuse the text PostgreSQL can't store, at the boundary (422, not 500)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError, model_validator

from shop.kit.validation import FieldProblem, StrictInput, invalid_fields


class Note(StrictInput):
    text: str
    extra: dict[str, Any] = {}


@pytest.mark.parametrize(
    "body",
    [
        {"text": "a\x00b"},
        {"text": "\ud800"},
        {"text": "fine", "extra": {"k\x00": 1}},
        {"text": "fine", "extra": {"k": ["x", {"deep": "\x00"}]}},
        {"text": "fine", "unknown": 1},
    ],
)
def test_unstorable_text_and_unknown_fields_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Note.model_validate(body)


def test_ordinary_text_passes() -> None:
    note = Note.model_validate({"text": "Grüße 👋 \t\n", "extra": {"k": [1, "ü"]}})
    assert note.text == "Grüße 👋 \t\n"


class Order(StrictInput):
    lines: list[dict[str, int]]

    @model_validator(mode="after")
    def _no_empty_line(self) -> Order:
        problems: list[FieldProblem] = [
            (("lines", index, name), "must be positive")
            for index, line in enumerate(self.lines)
            for name, quantity in line.items()
            if quantity <= 0
        ]
        if problems:
            raise invalid_fields("Order", problems)
        return self


def test_a_model_validator_names_each_field_at_fault() -> None:
    """invalid_fields keeps each problem's path (a ValueError would say only the
    model), below the place of the model, as FastAPI reports a body's errors."""
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(dict[str, Order]).validate_python(
            {"body": {"lines": [{"a": 1}, {"a": 0, "b": -2}]}}
        )
    assert [(e["loc"], e["msg"]) for e in refused.value.errors()] == [
        (("body", "lines", 1, "a"), "must be positive"),
        (("body", "lines", 1, "b"), "must be positive"),
    ]
