"""What a listing asks for: :class:`ProductQuery`, parsed from the query string."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shop.products.models import ProductStatus

MAX_QUERY_LENGTH = 200
MAX_PRICE = 10**12
MAX_WORDS = 10
# Room for the longest sort key (a 200-character name in any script), base64-encoded.
MAX_SEARCH_CURSOR_LENGTH = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Option filters, ``option.<Name>=<value>``: a product has at most three options of
# at most 100 values, names of at most 50 characters and values of at most 100
# (shop.products.options): asking more can never match, so it is a 422.
OPTION_PREFIX = "option."
MAX_OPTION_FILTERS = 3
MAX_OPTION_FILTER_VALUES = 100
MAX_OPTION_NAME_LENGTH = 50
MAX_OPTION_VALUE_LENGTH = 100

OptionFilters = dict[str, tuple[str, ...]]  # option name -> the values asked (any of them)


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


def _option_error(field: str, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=(field,), input=value
    )


def parse_option_filters(params: Mapping[str, Any]) -> tuple[OptionFilters, list[InitErrorDetails]]:
    """The ``option.<Name>`` parameters (a value, or the list of a repeated one): names
    and values as sent (case included), each name's values without repeats, sorted so
    that every spelling of one filter is the same. Errors name their parameter."""
    filters: OptionFilters = {}
    errors: list[InitErrorDetails] = []
    for key, raw in params.items():
        if not isinstance(key, str) or not key.startswith(OPTION_PREFIX):
            continue
        name = key.removeprefix(OPTION_PREFIX)
        values = raw if isinstance(raw, list | tuple) else [raw]
        if not name or len(name) > MAX_OPTION_NAME_LENGTH or _CONTROL.search(name):
            errors.append(
                _option_error(
                    key,
                    f"an option name has 1 to {MAX_OPTION_NAME_LENGTH} characters,"
                    " without control characters",
                    name,
                )
            )
            continue
        bad = [
            v
            for v in values
            if not isinstance(v, str)
            or not v
            or len(v) > MAX_OPTION_VALUE_LENGTH
            or _CONTROL.search(v)
        ]
        if bad:
            errors.append(
                _option_error(
                    key,
                    f"an option value has 1 to {MAX_OPTION_VALUE_LENGTH} characters,"
                    " without control characters",
                    bad[0],
                )
            )
            continue
        unique = tuple(sorted(set(values)))
        if len(unique) > MAX_OPTION_FILTER_VALUES:
            errors.append(
                _option_error(
                    key, f"at most {MAX_OPTION_FILTER_VALUES} values of one option", len(unique)
                )
            )
            continue
        filters[name] = unique
    if len(filters) > MAX_OPTION_FILTERS and not errors:
        errors.append(
            _option_error(
                OPTION_PREFIX + sorted(filters)[MAX_OPTION_FILTERS],
                f"at most {MAX_OPTION_FILTERS} options can be filtered on (a product has"
                f" at most {MAX_OPTION_FILTERS})",
                len(filters),
            )
        )
    return dict(sorted(filters.items())), errors


class ProductQuery(BaseModel):
    """A search and listing of products (``GET /api/v1/products``).

    ``sort`` defaults to ``relevance`` with a ``q`` and to ``newest`` without one;
    ``relevance`` without a ``q`` means ``newest``. ``in_stock=true`` keeps products
    with units available (``on_hand - reserved > 0``), ``in_stock=false`` those
    without. ``status`` defaults to ``active``; the route lets only admins ask for
    another.

    ``option.<Name>=<value>`` parameters (repeatable) become :attr:`options`: a
    product matches when one of its active variants has, for every option named, one
    of the values asked. That same variant must also have a price in the price range
    and, with ``in_stock=true``, units available (``in_stock=false``: none of the
    variants that match has any). A parameter named ``options`` is ignored like any
    other unknown one. ``ProductQuery.model_validate({"option.Size": ["M", "L"]})``
    builds one in code.
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
    # From the option.<Name> parameters (see _read_options): not a field, so that no
    # parameter of its own sets it and the schema does not list it (the route's
    # description documents them).
    _options: OptionFilters = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _read_options(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if not isinstance(data, Mapping):
            return handler(data)
        filters, errors = parse_option_filters(data)
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        query = handler({k: v for k, v in data.items() if not str(k).startswith(OPTION_PREFIX)})
        query._options = filters
        return query

    @property
    def options(self) -> OptionFilters:
        """Option name -> the values asked (any one of them will do)."""
        return self._options

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

    @cached_property
    def words(self) -> tuple[str, ...]:
        return search_words(self.q) if self.q else ()

    def cache_key(self) -> str:
        """The same for every spelling of the same query (status included)."""
        values: dict[str, Any] = self.model_dump(mode="json", exclude={"sort"})
        values["sort"] = self.effective_sort.value
        values["options"] = self.options
        return "search:" + orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()
