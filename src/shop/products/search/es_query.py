"""Search requests for a :class:`ProductQuery`, and their cursors (pure functions).

Elasticsearch and OpenSearch take the same request body.

Text: a fuzzy ``multi_match`` (``fuzziness: AUTO``, every word must match within
one field), a ``cross_fields`` one (the words may be spread over name, category
and description), a prefix match on the name's edge n-grams, fuzzy matches on
the name and on the category, and the exact SKU; any of them is enough, each
worth fixed points (see text_query). Filters: status, price range, stock. The
category filter is a ``post_filter``, so the ``categories`` terms aggregation
(the facet) sees the result set without it. Pages: ``search_after`` on the sort
order's key and the id, whose values the cursor carries.
"""

from __future__ import annotations

import math
from typing import Any

from shop.kit.pagination import InvalidCursorError
from shop.products.search.cursor import decode_values, encode_values
from shop.products.search.query import ProductQuery, SortOrder

MAX_FACETS = 1000

SORTS: dict[SortOrder, list[dict[str, str]]] = {
    SortOrder.RELEVANCE: [{"_score": "desc"}, {"id": "desc"}],
    SortOrder.PRICE_ASC: [{"price": "asc"}, {"id": "asc"}],
    SortOrder.PRICE_DESC: [{"price": "desc"}, {"id": "desc"}],
    SortOrder.NEWEST: [{"created_at": "desc"}, {"id": "desc"}],
    SortOrder.NAME: [{"name.sort": "asc"}, {"id": "asc"}],
}


# Points a product scores for each way it matches (see text_query).
MATCH_POINTS = {"any": 1.0, "spread": 1.0, "prefix": 1.0, "name": 2.0, "category": 1.0, "sku": 10.0}


def _points(clause: dict[str, Any], kind: str) -> dict[str, Any]:
    return {"constant_score": {"filter": clause, "boost": MATCH_POINTS[kind]}}


def text_query(text: str) -> dict[str, Any]:
    """Any of the clauses is enough; a product scores a fixed number of points for
    each one it matches. Fixed points, not BM25: BM25 scores move with the whole
    index (its word frequencies), so a relevance cursor's score would mean another
    place after any write (every stock change is one) and a walk would repeat or
    skip products. With points, a product's score is its own: exact matches (name,
    prefix, both multi_matches) before typo matches, name before category before
    description, the exact SKU first; ties by id."""
    fuzzy = {
        "query": text,
        "type": "best_fields",
        "fields": ["name^3", "name.folded^3", "sku.text^3", "category_name^2", "description"],
        "fuzziness": "AUTO",
        "prefix_length": 1,
        "operator": "and",
    }
    spread = {
        "query": text,
        "type": "cross_fields",
        "fields": ["name^3", "sku.text^3", "category_name^2", "description"],
        "operator": "and",
    }
    # The name both stemmed and as written: a typo may be near one and not the other.
    in_field = {"query": text, "operator": "and", "fuzziness": "AUTO", "prefix_length": 1}
    return {
        "bool": {
            "should": [
                _points({"multi_match": fuzzy}, "any"),
                _points({"multi_match": spread}, "spread"),
                _points({"match": {"name.prefix": {"query": text, "operator": "and"}}}, "prefix"),
                _points({"multi_match": {**in_field, "fields": ["name", "name.folded"]}}, "name"),
                _points({"match": {"category_name": in_field}}, "category"),
                _points({"term": {"sku": {"value": text}}}, "sku"),
            ],
            "minimum_should_match": 1,
        }
    }


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


def build_search(query: ProductQuery) -> dict[str, Any]:
    """The body of a ``_search`` request. One hit more than the page is asked for:
    its presence means there is a next page."""
    sort = query.effective_sort
    boolean: dict[str, Any] = {"filter": filters(query)}
    if query.q is not None:
        boolean["must"] = [text_query(query.q)]
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
