"""Cursors of search pages: the sort order's key of the last product, then its id.

The sort order is named in the cursor, so that a cursor is never read as the
key of another order (that is a 400, as is any cursor we did not give out).

Search cursors have a codec of their own, like shop.kit.pagination's but with
room for the longest key: a product name of 200 characters, in any script.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shop.kit.pagination import InvalidCursorError
from shop.products.search.mem_query import IndexCursor
from shop.products.search.query import MAX_SEARCH_CURSOR_LENGTH, SortOrder

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_FORGED = "The cursor is not one this API gave out."


def _aware_utc(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("naive timestamp")
    return parsed.astimezone(UTC)  # may overflow: a forgery


def _price(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise ValueError("not a price")
    return value


def _text(value: Any) -> str:
    # A name PostgreSQL could not even compare (NUL, lone surrogates) is a forgery.
    if not isinstance(value, str) or _UNSTORABLE.search(value):
        raise ValueError("not a name")
    return value


def _score(value: Any) -> float:
    score = float(str(value))
    if not math.isfinite(score):
        raise ValueError("not a score")
    return score


# How each order's key travels (relevance scores as their repr: exact).
KEYS: dict[SortOrder, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    SortOrder.RELEVANCE: (lambda score: repr(float(score)), _score),
    SortOrder.PRICE_ASC: (int, _price),
    SortOrder.PRICE_DESC: (int, _price),
    SortOrder.NEWEST: (lambda at: at.isoformat(), _aware_utc),
    SortOrder.NAME: (str, _text),
}


def encode_values(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_values(cursor: str, length: int) -> list[Any]:
    """The JSON list a cursor holds, of ``length`` items; InvalidCursorError otherwise."""
    try:
        if len(cursor) > MAX_SEARCH_CURSOR_LENGTH:
            raise ValueError("too long")
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError(_FORGED) from exc
    if not isinstance(values, list) or len(values) != length:
        raise InvalidCursorError(_FORGED)
    return values


def encode_page_cursor(sort: SortOrder, key: Any, product_id: uuid.UUID) -> str:
    dump, _ = KEYS[sort]
    return encode_values([sort.value, dump(key), str(product_id)])


def decode_page_cursor(cursor: str, sort: SortOrder) -> tuple[Any, uuid.UUID]:
    """The key and the id a cursor of ``sort`` carries."""
    tag, key, product_id = decode_values(cursor, 3)
    if tag != sort.value:
        raise InvalidCursorError("The cursor belongs to another sort order.")
    _, load = KEYS[sort]
    try:
        return load(key), uuid.UUID(str(product_id))
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidCursorError(_FORGED) from exc


# The in-process index's relevance cursors (shop.products.search.mem_search): their own
# tag, so that PostgreSQL never reads one as a score, nor the index one of PostgreSQL's.
INDEX_TAG = "relevance-index"
INDEX_CURSOR_LENGTH = 7


def encode_index_cursor(after: IndexCursor) -> str:
    return encode_values(
        [
            INDEX_TAG,
            int(after.not_sku),
            after.typos,
            after.not_in_name,
            after.not_in_category,
            after.created_at.isoformat(),
            str(after.id),
        ]
    )


def is_index_cursor(cursor: str) -> bool:
    """Whether ``cursor`` is one of the index's (anything else: PostgreSQL's to read)."""
    try:
        values = decode_values(cursor, INDEX_CURSOR_LENGTH)
    except InvalidCursorError:
        return False
    return bool(values[0] == INDEX_TAG)


def decode_index_cursor(cursor: str) -> IndexCursor:
    values = decode_values(cursor, INDEX_CURSOR_LENGTH)
    tag, not_sku, typos, not_in_name, not_in_category, created_at, product_id = values
    if tag != INDEX_TAG:
        raise InvalidCursorError("The cursor belongs to another sort order.")
    try:
        return IndexCursor(
            not_sku=bool(_small(not_sku)),
            typos=_small(typos),
            not_in_name=-_small(-not_in_name),
            not_in_category=-_small(-not_in_category),
            created_at=_aware_utc(created_at),
            id=uuid.UUID(str(product_id)),
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidCursorError(_FORGED) from exc


def _small(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1_000:
        raise ValueError("not a count")
    return value
