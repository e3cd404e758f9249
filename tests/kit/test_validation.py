"""Request bodies refuse the text PostgreSQL can't store, at the boundary (422, not 500)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shop.kit.validation import StrictInput


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
