"""Search requests for a :class:`ProductQuery`, and their cursors (pure functions).

Elasticsearch and OpenSearch take the same request body.

Text: the same rules as the PostgreSQL backend (see pg_text). The query's words
(search_words, English stop words left out when others remain), each one clause
worth fixed points: 10,000 for a match, 10 more in the name, 100 off per typo
(fuzziness by word length: typo_budget; transpositions count one), the last word
also as a prefix. Products matching every word, or if none does the most words
(``least_words``: the backend asks the engine how many that is, see
:func:`build_probe`). Then half a point for the words as a phrase in the name
(proximity), and 100,000 for the exact SKU (the product's or an active variant's).

Filters. The status is the query's. What is asked of the variants (options, price
range, stock: one ``nested`` variant must match all of it, as in
shop.products.search.pg_variants) and the category are a ``post_filter``, so that the
aggregations see the result set without them: ``categories`` (the facet) applies the
variant filter but not the category's; each option facet applies the category and
every filter but its option's own, inside the nested variants (one aggregation for
each option asked, one for the others). Pages: ``search_after`` on the sort order's
key and the id, whose values the cursor carries.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from shop.kit.pagination import InvalidCursorError
from shop.products.search.cursor import decode_values, encode_values
from shop.products.search.es_mapping import option_term
from shop.products.search.port import MAX_OPTION_FACETS
from shop.products.search.query import ProductQuery, SortOrder, search_words, typo_budget

MAX_FACETS = 1000

SORTS: dict[SortOrder, list[dict[str, str]]] = {
    SortOrder.RELEVANCE: [{"_score": "desc"}, {"id": "desc"}],
    SortOrder.PRICE_ASC: [{"price": "asc"}, {"id": "asc"}],
    SortOrder.PRICE_DESC: [{"price": "desc"}, {"id": "desc"}],
    SortOrder.NEWEST: [{"created_at": "desc"}, {"id": "desc"}],
    SortOrder.NAME: [{"name.sort": "asc"}, {"id": "asc"}],
}


# Points a product scores (see text_query); the same as PostgreSQL's (pg_text).
WORD_POINTS = 10_000.0
TYPO_POINTS = 100.0
NAME_POINTS = 10.0
PHRASE_POINTS = 0.5
CATEGORY_POINTS = 0.25
EXACT_SKU_POINTS = 100_000.0
# Lucene's English stop words (the ``_english_`` list of the folded_english analyzer).
STOP_WORDS = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    )
)
# Where a word is found, and the points that adds: the name, then the category (a
# fraction, like PostgreSQL's field weights in ts_rank_cd), then the rest.
FIELDS: list[tuple[list[str], float]] = [
    (["name", "name.folded"], NAME_POINTS),
    (["category_name"], CATEGORY_POINTS),
    (["description", "sku.text"], 0.0),
]
# In the name, typos are counted on the words as written, not on their stems
# ("wireles" is one typo from "wireless", and its stem "wirel" one from "wire").
TYPO_FIELDS: list[tuple[list[str], float]] = [(["name.folded"], NAME_POINTS), *FIELDS[1:]]


def _points(clause: dict[str, Any], points: float) -> dict[str, Any]:
    return {"constant_score": {"filter": clause, "boost": points}}


def query_words(text: str) -> list[str]:
    words = list(search_words(text))
    meaningful = [word for word in words if word not in STOP_WORDS]
    return meaningful or words


def _word_clause(word: str, *, last: bool) -> dict[str, Any]:
    """The points of one word: the best way it matches (a dis_max of fixed points)."""
    exact = {"query": word, "operator": "and"}
    ways = [
        _points({"multi_match": {**exact, "fields": fields}}, WORD_POINTS + extra)
        for fields, extra in FIELDS
    ]
    if last:
        ways.append(_points({"match": {"name.prefix": exact}}, WORD_POINTS + NAME_POINTS))
        ways += [
            _points(
                {"multi_match": {**exact, "type": "bool_prefix", "fields": fields}},
                WORD_POINTS + extra,
            )
            for fields, extra in FIELDS[1:]
        ]
    budget = typo_budget(word) if word.isalpha() else 0
    for typos in range(1, budget + 1):
        fuzzy = {**exact, "fuzziness": typos, "prefix_length": 0, "max_expansions": 50}
        ways += [
            _points(
                {"multi_match": {**fuzzy, "fields": fields}},
                WORD_POINTS - typos * TYPO_POINTS + extra,
            )
            for fields, extra in TYPO_FIELDS
        ]
    return {"dis_max": {"queries": ways, "tie_breaker": 0.0}}


def text_query(text: str, least_words: int | None = None) -> dict[str, Any]:
    """Products matching at least ``least_words`` words (default: every word), or the
    exact SKU. Fixed points, not BM25: BM25 scores move with the whole index (its word
    frequencies), so a relevance cursor's score would mean another place after any
    write (every stock change is one) and a walk would repeat or skip products. With
    points, a product's score is its own."""
    words = query_words(text)
    if not words:
        return {"bool": {"must_not": [{"match_all": {}}]}}  # nothing searchable
    clauses = [_word_clause(word, last=i == len(words) - 1) for i, word in enumerate(words)]
    matching = {"bool": {"should": clauses, "minimum_should_match": least_words or len(clauses)}}
    phrase = {"match_phrase": {"name.folded": {"query": " ".join(words), "slop": 2}}}
    return {
        "bool": {
            "must": [
                {
                    "bool": {
                        "should": [
                            matching,
                            _points(
                                {
                                    "bool": {
                                        "should": [
                                            {"term": {"sku": {"value": text}}},
                                            {"term": {"variant_skus": {"value": text}}},
                                        ]
                                    }
                                },
                                EXACT_SKU_POINTS,
                            ),
                        ],
                        "minimum_should_match": 1,
                    }
                }
            ],
            "should": [_points(phrase, PHRASE_POINTS)],
        }
    }


def words_matched(score: float) -> int:
    """How many words a product matched, from its score (without the SKU's points)."""
    return round(score / WORD_POINTS)


IN_STOCK = {"range": {"variants.available": {"gt": 0}}}


def _variant_clauses(query: ProductQuery, *, but: str | None = None) -> list[dict[str, Any]]:
    """What one variant must be, stock aside (``but``: without that option's filter)."""
    found: list[dict[str, Any]] = [
        {"terms": {"variants.options": [option_term(name, value) for value in values]}}
        for name, values in query.options.items()
        if name != but
    ]
    price: dict[str, int] = {}
    if query.min_price is not None:
        price["gte"] = query.min_price
    if query.max_price is not None:
        price["lte"] = query.max_price
    if price:
        found.append({"range": {"variants.price": price}})
    return found


def _some_variant(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    # ignore_unmapped: an index made before variants were indexed (until a reindex)
    # finds nothing rather than failing.
    return {
        "nested": {
            "path": "variants",
            "query": {"bool": {"filter": clauses}},
            "ignore_unmapped": True,
        }
    }


def variant_filters(query: ProductQuery) -> list[dict[str, Any]]:
    """One active variant (the index holds no other) has every value asked, a price in
    the range and with ``in_stock=true`` units; ``in_stock=false``: one has the rest,
    and none of those has units."""
    clauses = _variant_clauses(query)
    if query.in_stock is True:
        return [_some_variant([*clauses, IN_STOCK])]
    if query.in_stock is False:
        none_stocked = {"bool": {"must_not": [_some_variant([*clauses, IN_STOCK])]}}
        return [_some_variant(clauses), none_stocked] if clauses else [none_stocked]
    return [_some_variant(clauses)] if clauses else []


def filters(query: ProductQuery) -> list[dict[str, Any]]:
    """Every filter but the category's."""
    return [{"term": {"status": query.status.value}}, *variant_filters(query)]


def _escaped(text: str) -> str:
    """``text`` as a literal in a Lucene regular expression."""
    return "".join(c if c.isalnum() else "\\" + c for c in text)


def _option_prefix(name: str) -> str:
    """A regular expression of the terms of option ``name``: ``["Size",`` then anything."""
    return _escaped(option_term(name, "")[:-3]) + ".*"


def _option_values(query: ProductQuery, name: str | None) -> dict[str, Any]:
    """The option facet of ``name`` (None: of every option not asked), counted in
    products: the terms of the variants that match every filter but the option's own,
    each with its products (``reverse_nested``) and those of its variants in stock."""
    terms: dict[str, Any] = {
        "field": "variants.options",
        "size": MAX_OPTION_FACETS,
        "order": [{"products": "desc"}, {"_key": "asc"}],
    }
    if name is not None:
        terms["include"] = _option_prefix(name)
    elif query.options:
        terms["exclude"] = "|".join(_option_prefix(asked) for asked in query.options)
    values = {
        "terms": terms,
        "aggs": {
            "products": {"reverse_nested": {}},
            "stocked": {"filter": IN_STOCK, "aggs": {"products": {"reverse_nested": {}}}},
        },
    }
    clauses = _variant_clauses(query, but=name)
    category = (
        {"term": {"category_slugs": query.category}}
        if query.category is not None
        else {"match_all": {}}
    )
    return {
        "filter": category,
        "aggs": {
            "variants": {
                "nested": {"path": "variants"},
                "aggs": {
                    "matching": {
                        "filter": {"bool": {"filter": clauses}},
                        "aggs": {"values": values},
                    }
                },
            }
        },
    }


def option_aggregations(query: ProductQuery) -> dict[str, Any]:
    """``options`` (every option not asked) and ``option_<i>`` for the ``i``-th asked."""
    aggs = {"options": _option_values(query, None)}
    for i, name in enumerate(query.options):
        aggs[f"option_{i}"] = _option_values(query, name)
    return aggs


def read_option_facets(
    aggregations: dict[str, Any], query: ProductQuery
) -> list[tuple[str, str, int]]:
    """``(name, value, products)`` from the option aggregations of a response."""
    found: list[tuple[str, str, int]] = []
    names = ["options", *(f"option_{i}" for i in range(len(query.options)))]
    for agg in names:
        buckets = aggregations.get(agg, {}).get("variants", {}).get("matching", {})
        for bucket in buckets.get("values", {}).get("buckets", []):
            name, value = orjson.loads(bucket["key"])
            products = int(bucket["products"]["doc_count"])
            stocked = int(bucket["stocked"]["products"]["doc_count"])
            if query.in_stock is True:
                found.append((name, value, stocked))
            elif query.in_stock is False:
                found.append((name, value, products - stocked))
            else:
                found.append((name, value, products))
    return found


def build_search(query: ProductQuery, least_words: int | None = None) -> dict[str, Any]:
    """The body of a ``_search`` request. One hit more than the page is asked for:
    its presence means there is a next page."""
    sort = query.effective_sort
    boolean: dict[str, Any] = {"filter": [{"term": {"status": query.status.value}}]}
    if query.q is not None:
        boolean["must"] = [text_query(query.q, least_words)]
    on_variants = variant_filters(query)
    categories = {"terms": {"field": "category_slugs", "size": MAX_FACETS}}
    request: dict[str, Any] = {
        "query": {"bool": boolean},
        "sort": SORTS[sort],
        "size": query.limit + 1,
        "track_total_hits": True,
        "_source": False,
        "aggs": {
            "categories": {
                "filter": {"bool": {"filter": on_variants}},
                "aggs": {"slugs": categories},
            },
            **option_aggregations(query),
        },
    }
    post_filter = list(on_variants)
    if query.category is not None:
        post_filter.append({"term": {"category_slugs": query.category}})
    if post_filter:
        request["post_filter"] = {"bool": {"filter": post_filter}}
    if query.cursor is not None:
        request["search_after"] = decode_search_after(query.cursor, sort)
    return request


def build_probe(query: ProductQuery) -> dict[str, Any] | None:
    """When no product has every word: the request whose best hit says how many words
    the best partial matches have (:func:`words_matched` of its score). None when there
    is nothing to relax (one word)."""
    if query.q is None or len(query_words(query.q)) < 2:
        return None
    text = text_query(query.q, least_words=1)
    text["bool"]["must"] = [text["bool"]["must"][0]["bool"]["should"][0]]  # not the SKU's
    text["bool"]["should"] = []
    return {
        "query": {"bool": {"filter": filters(query), "must": [text]}},
        "sort": [{"_score": "desc"}],
        "size": 1,
        "track_total_hits": False,
        "_source": False,
    }


def encode_search_after(sort: SortOrder, values: list[Any]) -> str:
    return encode_values([sort.value, *values])


def decode_search_after(cursor: str, sort: SortOrder) -> list[Any]:
    """The ``search_after`` values of a cursor: the sort key (a number or a string)
    and the id."""
    tag, key, product_id = decode_values(cursor, 3)
    if tag != sort.value:
        raise InvalidCursorError("The cursor belongs to another sort order.")
    valid = isinstance(product_id, str) and (
        isinstance(key, str)
        or (isinstance(key, int | float) and not isinstance(key, bool) and math.isfinite(key))
    )
    if not valid:
        raise InvalidCursorError("The cursor is not one this API gave out.")
    return [key, product_id]
