"""Opaque cursors for keyset pagination: ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shop.kit.errors import ShopError

MAX_CURSOR_LENGTH = 512


class InvalidCursorError(ShopError):
    status = 400
    title = "Invalid cursor"
    type_slug = "invalid-cursor"


def encode_cursor(values: list[Any]) -> str:
    """The sort key of the last item of a page, as an opaque string."""
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _aware_utc(value: Any) -> datetime:
    # Our cursors always carry an aware timestamp. A crafted one could name a date that
    # overflows when converted to UTC (a 500 in the driver), or a naive one read in the
    # server's local time: both are cursors we never gave out.
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("naive timestamp")
    return parsed.astimezone(UTC)


_PARSERS: dict[type, Callable[[Any], Any]] = {
    datetime: _aware_utc,
    uuid.UUID: lambda value: uuid.UUID(str(value)),
    int: int,
    str: str,
}


def decode_cursor(cursor: str, *types: type) -> list[Any]:
    """The values :func:`encode_cursor` was given, parsed back as ``types``."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong shape")
        return [_PARSERS[kind](value) for kind, value in zip(types, values, strict=True)]
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidCursorError("The cursor is not one this API gave out.") from exc
