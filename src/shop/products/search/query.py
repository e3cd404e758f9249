"""What a listing asks for: :class:`ProductQuery`, parsed from the query string."""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Annotated, Any, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shop.products.models import ProductStatus

MAX_QUERY_LENGTH = 200
MAX_PRICE = 10**12
MAX_WORDS = 10
# Room for the longest sort key (a 200-character name in any script), base64-encoded.
MAX_SEARCH_CURSOR_LENGTH = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def typo_budget(word: str) -> int:
    """Typos forgiven in a word of the query: none under 4 letters, one up to 7, two
    beyond (a transposition counts as one). Both backends follow it."""
    if len(word) < 4:
        return 0
    return 1 if len(word) <= 7 else 2


class SortOrder(enum.StrEnum):
    RELEVANCE = "relevance"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NEWEST = "newest"
    NAME = "name"


def _is_word_character(char: str) -> bool:
    # Letters and digits; modifier letters (U+02BC, U+02C6 ...) are punctuation in disguise:
    # unaccent() turns them into quotes and colons.
    category = unicodedata.category(char)
    return category[0] in "LN" and category != "Lm"


def search_words(text: str) -> tuple[str, ...]:
    """The words of a search, case-folded and without accents; everything else
    (punctuation, symbols, SQL or query syntax) separates words and is dropped.

    What is left is letters and digits only, which no backend reads as syntax:
    the words are safe to embed in a full-text query such as ``word:*``.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    cleaned = "".join(
        char if _is_word_character(char) else " "
        for char in decomposed
        if not unicodedata.category(char).startswith("M")  # accents
    )
    words = dict.fromkeys(cleaned.split())  # unique, in order
    return tuple(words)[:MAX_WORDS]


class ProductQuery(BaseModel):
    """A search and listing of products (``GET /api/v1/products``).

    ``sort`` defaults to ``relevance`` with a ``q`` and to ``newest`` without one;
    ``relevance`` without a ``q`` means ``newest``. ``in_stock=true`` keeps products
    with units available (``on_hand - reserved > 0``), ``in_stock=false`` those
    without. ``status`` defaults to ``active``; the route lets only admins ask for
    another.
    """

    # Other query parameters (a cache buster, tracking tags) are ignored, not refused.
    model_config = ConfigDict(frozen=True, extra="ignore")

    q: Annotated[
        str | None,
        Field(max_length=MAX_QUERY_LENGTH, description="Words to search for; typos are forgiven"),
    ] = None
    category: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=140,
            pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
            description="A category slug; its subcategories are included",
        ),
    ] = None
    min_price: Annotated[int | None, Field(ge=0, le=MAX_PRICE, description="Minor units")] = None
    max_price: Annotated[int | None, Field(ge=0, le=MAX_PRICE, description="Minor units")] = None
    in_stock: Annotated[
        bool | None,
        Field(description="Only products with (true) or without (false) units available"),
    ] = None
    sort: SortOrder | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[
        str | None,
        Field(max_length=MAX_SEARCH_CURSOR_LENGTH, description="next_cursor of the previous page"),
    ] = None
    status: Annotated[ProductStatus, Field(description="Admins only, unless active")] = (
        ProductStatus.ACTIVE
    )

    @field_validator("q")
    @classmethod
    def _normalize_text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Control characters (NUL is refused by PostgreSQL) and lone surrogates go.
        text = " ".join(_CONTROL.sub(" ", value).split())
        return text or None

    @model_validator(mode="after")
    def _price_range(self) -> Self:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError("min_price must not be greater than max_price")
        return self

    @property
    def effective_sort(self) -> SortOrder:
        if self.q is None:
            return SortOrder.NEWEST if self.sort in (None, SortOrder.RELEVANCE) else self.sort
        return self.sort or SortOrder.RELEVANCE

    @property
    def words(self) -> tuple[str, ...]:
        return search_words(self.q) if self.q else ()

    def cache_key(self) -> str:
        """The same for every spelling of the same query (status included)."""
        values: dict[str, Any] = self.model_dump(mode="json", exclude={"sort"})
        values["sort"] = self.effective_sort.value
        return "search:" + orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()
