"""Search requests for a :class:`ProductQuery`, and their cursors (pure functions).

Elasticsearch and OpenSearch take the same request body.

Text: the same rules as the PostgreSQL backend (see pg_text). The query's words
(search_words, English stop words left out when others remain), each one clause
worth fixed points: 10,000 for a match, 10 more in the name, 100 off per typo
(fuzziness by word length: typo_budget; transpositions count one), the last word
also as a prefix. Products matching every word, or if none does the most words
(``least_words``: the backend asks the engine how many that is, see
:func:`build_probe`). Then half a point for the words as a phrase in the name
(proximity), and 100,000 for the exact SKU. Filters: status, price range, stock.
The category filter is a ``post_filter``, so the ``categories`` terms aggregation
(the facet) sees the result set without it. Pages: ``search_after`` on the sort
order's key and the id, whose values the cursor carries.
"""

from __future__ import annotations

import math
from typing import Any

from shop.kit.pagination import InvalidCursorError
from shop.products.search.cursor import decode_values, encode_values
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
                            _points({"term": {"sku": {"value": text}}}, EXACT_SKU_POINTS),
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


def filters(query: ProductQuery) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{"term": {"status": query.status.value}}]
    price: dict[str, int] = {}
    if query.min_price is not None:
        price["gte"] = query.min_price
    if query.max_price is not None:
        price["lte"] = query.max_price
    if price:
        found.append({"range": {"price": price}})
    if query.in_stock is True:
        found.append({"range": {"available": {"gt": 0}}})
    elif query.in_stock is False:
        found.append({"bool": {"must_not": [{"range": {"available": {"gt": 0}}}]}})
    return found


def build_search(query: ProductQuery, least_words: int | None = None) -> dict[str, Any]:
    """The body of a ``_search`` request. One hit more than the page is asked for:
    its presence means there is a next page."""
    sort = query.effective_sort
    boolean: dict[str, Any] = {"filter": filters(query)}
    if query.q is not None:
        boolean["must"] = [text_query(query.q, least_words)]
    request: dict[str, Any] = {
        "query": {"bool": boolean},
        "sort": SORTS[sort],
        "size": query.limit + 1,
        "track_total_hits": True,
        "_source": False,
        "aggs": {"categories": {"terms": {"field": "category_slugs", "size": MAX_FACETS}}},
    }
    if query.category is not None:
        request["post_filter"] = {"term": {"category_slugs": query.category}}
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
