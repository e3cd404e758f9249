"""ProductQuery and cursors, without a database."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shop.kit.pagination import InvalidCursorError
from shop.products.models import ProductStatus
from shop.products.search import ProductQuery, SortOrder, search_words
from shop.products.search.cursor import decode_page_cursor, encode_page_cursor, encode_values
from shop.products.search.query import MAX_SEARCH_CURSOR_LENGTH


def test_words_are_folded_and_stripped_of_syntax() -> None:
    assert search_words("Wireless  HEADPHONES") == ("wireless", "headphones")
    assert search_words("Café crème") == ("cafe", "creme")
    assert search_words("'; DROP TABLE products; --") == ("drop", "table", "products")
    assert search_words("100% _cotton_ \\o/ a&b|c:*!") == ("100", "cotton", "o", "a", "b", "c")
    assert search_words("Straße") == ("strasse",)
    assert search_words("wireless wireless") == ("wireless",)


def test_words_never_carry_what_unaccent_would_turn_into_syntax() -> None:
    # unaccent() maps these to " 1/2", "(1)", "'", "^" and ":": they must not reach it.
    tricky = "\u00bd \u2474 \u0149 \u02bc \u02c6 \u02d0"  # ½ ⑴ ŉ and modifier letters
    assert search_words(tricky) == ("1", "2", "n")
    for word in search_words(tricky + " \u2042 \u3231 \ufb01"):
        assert word.isalnum(), word


def test_words_are_bounded() -> None:
    assert len(search_words(" ".join(f"w{i}" for i in range(50)))) == 10


def test_q_is_normalized() -> None:
    assert ProductQuery(q="  wireless \t headphones  ").q == "wireless headphones"
    assert ProductQuery(q="   ").q is None
    assert ProductQuery(q="nul\x00byte").q == "nul byte"
    with pytest.raises(ValidationError):  # not text at all: 422
        ProductQuery(q="\ud800lone")


def test_limits_are_validated() -> None:
    for bad in (
        {"q": "x" * 201},
        {"limit": 0},
        {"limit": 101},
        {"min_price": -1},
        {"max_price": 10**13},
        {"min_price": 500, "max_price": 100},
        {"category": "Not A Slug"},
        {"sort": "cheapest"},
        {"status": "deleted"},
        {"cursor": "x" * 3000},
    ):
        with pytest.raises(ValidationError):
            ProductQuery.model_validate(bad)


def test_sort_defaults_to_relevance_with_words_else_newest() -> None:
    assert ProductQuery(q="lamp").effective_sort is SortOrder.RELEVANCE
    assert ProductQuery().effective_sort is SortOrder.NEWEST
    assert ProductQuery(sort=SortOrder.RELEVANCE).effective_sort is SortOrder.NEWEST
    assert ProductQuery(q="lamp", sort=SortOrder.NAME).effective_sort is SortOrder.NAME


def test_cache_key_is_the_same_for_every_spelling_of_a_query() -> None:
    assert (
        ProductQuery(q=" lamp ").cache_key()
        == ProductQuery(q="lamp", sort=SortOrder.RELEVANCE, limit=20).cache_key()
    )
    assert ProductQuery().cache_key() != ProductQuery(status=ProductStatus.DRAFT).cache_key()
    assert ProductQuery(limit=5).cache_key() != ProductQuery(limit=6).cache_key()


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        (SortOrder.RELEVANCE, 1.2345678901234567),
        (SortOrder.PRICE_ASC, 1999),
        (SortOrder.PRICE_DESC, 0),
        (SortOrder.NEWEST, datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)),
        (SortOrder.NAME, "Café \u2013 «quoted» ' \" \\"),
    ],
)
def test_cursors_round_trip_exactly(sort: SortOrder, key: object) -> None:
    product_id = uuid.uuid4()
    assert decode_page_cursor(encode_page_cursor(sort, key, product_id), sort) == (key, product_id)


def test_a_cursor_of_another_order_or_forged_is_refused() -> None:
    product_id = str(uuid.uuid4())
    cursor = encode_page_cursor(SortOrder.PRICE_ASC, 100, uuid.UUID(product_id))
    with pytest.raises(InvalidCursorError):
        decode_page_cursor(cursor, SortOrder.PRICE_DESC)
    forged: list[tuple[SortOrder, str]] = [
        (SortOrder.NAME, "not base64 at all!"),
        (SortOrder.NAME, "x" * 3000),
        (SortOrder.NAME, _raw('["name", "a", "' + product_id + '"')),  # not JSON
        (SortOrder.RELEVANCE, encode_values(["relevance", "nan", product_id])),
        (SortOrder.RELEVANCE, encode_values(["relevance", "inf", product_id])),
        (SortOrder.RELEVANCE, encode_values(["relevance", "high", product_id])),
        (SortOrder.PRICE_ASC, encode_values(["price_asc", 2**80, product_id])),
        (SortOrder.PRICE_ASC, encode_values(["price_asc", -1, product_id])),
        (SortOrder.PRICE_ASC, encode_values(["price_asc", "100", product_id])),
        (SortOrder.PRICE_ASC, encode_values(["price_asc", True, product_id])),
        (SortOrder.NAME, encode_values(["name", "nul\x00", product_id])),
        (SortOrder.NAME, _raw('["name", "\\ud800", "' + product_id + '"]')),
        (SortOrder.NAME, encode_values(["name", 5, product_id])),
        (SortOrder.NEWEST, encode_values(["newest", "2026-01-01T00:00:00", product_id])),
        (SortOrder.NEWEST, encode_values(["newest", "9999-12-31T23:59:59-23:59", product_id])),
        (SortOrder.NAME, encode_values(["name", "a", "not-a-uuid"])),
        (SortOrder.NAME, encode_values(["name", "a"])),
        (SortOrder.NAME, encode_values({"name": "a"})),  # type: ignore[arg-type]
    ]
    for sort, cursor in forged:
        with pytest.raises(InvalidCursorError):
            decode_page_cursor(cursor, sort)


def test_the_longest_name_fits_in_a_cursor() -> None:
    name = '\U0001f3a7"' * 100  # 200 characters of 4-byte UTF-8 and escaped quotes
    cursor = encode_page_cursor(SortOrder.NAME, name, uuid.uuid4())
    assert len(cursor) <= MAX_SEARCH_CURSOR_LENGTH
    assert ProductQuery(cursor=cursor).cursor == cursor


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_option_parameters_become_option_filters() -> None:
    query = ProductQuery.model_validate(
        {"option.Size": ["M", "L", "M"], "option.Colour": "Red", "options": "ignored"}
    )
    assert query.options == {"Colour": ("Red",), "Size": ("L", "M")}
    assert ProductQuery().options == {}
    # Every spelling of one filter shares a cache entry; another filter does not.
    same = ProductQuery.model_validate({"option.Colour": ["Red"], "option.Size": ["M", "L"]})
    assert query.cache_key() == same.cache_key()
    other = ProductQuery.model_validate({"option.Size": ["M"], "option.Colour": "Red"})
    assert query.cache_key() != other.cache_key()
    assert ProductQuery().cache_key() != other.cache_key()


def test_option_parameters_out_of_bounds_name_themselves() -> None:
    for bad, field in (
        ({"option.Size": "x" * 101}, "option.Size"),
        ({"option.": "M"}, "option."),
        ({"option.Size": ["M", ""]}, "option.Size"),
        ({f"option.N{i}": "x" for i in range(4)}, "option.N3"),
        ({"option.Size": [str(i) for i in range(101)]}, "option.Size"),
    ):
        with pytest.raises(ValidationError) as raised:
            ProductQuery.model_validate(bad)
        assert [error["loc"] for error in raised.value.errors()] == [(field,)]
