"""The Elasticsearch backend's pure parts: index definition, documents, requests, pages."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from shop.kit.pagination import InvalidCursorError
from shop.products.models import Category, Product, ProductStatus
from shop.products.search import (
    CATEGORY_CHANGED,
    PRODUCT_CHANGED,
    EngineSearch,
    OpenSearchEngine,
    PostgresSearch,
    ProductQuery,
    SearchConfigurationError,
    SortOrder,
    build_search,
    create_search_backend,
    index_definition,
    indexes_stock,
    product_document,
    search_outbox_handlers,
)
from shop.products.search.es_backend import read_page
from shop.products.search.es_indexer import new_index_name
from shop.products.search.es_mapping import IndexedVariant
from shop.products.search.es_query import decode_search_after, encode_search_after
from tests.products.search_support import Tokens, search_settings
from tests.support import Databases


def test_analyzers_fold_accents_stem_and_index_prefixes() -> None:
    settings = index_definition()["settings"]
    analysis = settings["analysis"]
    analyzers = analysis["analyzer"]
    assert analyzers["folded"]["filter"] == ["lowercase", "asciifolding"]
    assert {"asciifolding", "english_stemmer", "english_stop"} <= set(
        analyzers["folded_english"]["filter"]
    )
    assert "edge_ngrams" in analyzers["autocomplete"]["filter"]
    ngrams = analysis["filter"]["edge_ngrams"]
    assert ngrams["type"] == "edge_ngram"
    assert settings["max_ngram_diff"] >= ngrams["max_gram"] - ngrams["min_gram"]
    assert analysis["normalizer"]["folded"]["filter"] == ["lowercase", "asciifolding"]


def test_mapping_has_a_field_for_every_feature() -> None:
    mappings = index_definition()["mappings"]
    assert mappings["dynamic"] == "strict"  # a document field we forgot is an error
    fields = mappings["properties"]
    assert fields["name"]["analyzer"] == "folded_english"
    assert fields["name"]["fields"]["prefix"] == {
        "type": "text",
        "analyzer": "autocomplete",
        "search_analyzer": "folded",
    }
    assert fields["name"]["fields"]["sort"]["type"] == "keyword"
    assert fields["sku"]["type"] == "keyword"
    assert fields["sku"]["fields"]["text"]["analyzer"] == "folded"
    for name, kind in {
        "id": "keyword",
        "category_slugs": "keyword",
        "status": "keyword",
        "price": "long",
        "available": "integer",
        "created_at": "date",
    }.items():
        assert fields[name]["type"] == kind, name


def _product(category: Category | None = None, **fields: Any) -> Product:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "sku": "WH-1",
        "slug": "wireless-headphones",
        "name": "Wireless Headphones",
        "description": "Over-ear, café quiet",
        "price": 1999,
        "currency": "USD",
        "category_id": category.id if category else None,
        "attributes": {},
        "status": ProductStatus.ACTIVE,
        "version": 3,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 3, tzinfo=UTC),
    }
    values.update(fields)
    return Product(**values)


def test_a_document_carries_the_category_lineage_and_stock() -> None:
    root_id, child_id = uuid.uuid4(), uuid.uuid4()
    root = Category(id=root_id, name="Electronics", slug="electronics", path=str(root_id))
    child = Category(id=child_id, name="Audio", slug="audio", path=f"{root_id}/{child_id}")
    product = _product(child)
    variants = [
        IndexedVariant(sku="HOOD-M-RED", options={"Size": "M", "Color": "Red"}, price=1999,
                       available=3),
        IndexedVariant(sku="HOOD-L-RED", options={"Size": "L", "Color": "Red"}, price=2499,
                       available=1),
    ]  # fmt: skip
    document = product_document(product, [root, child], variants)
    mapped = index_definition()["mappings"]["properties"]
    assert set(document) <= set(mapped)
    assert mapped["variants"]["type"] == "nested"  # one variant's values stay together
    for variant in document["variants"]:
        assert set(variant) <= set(mapped["variants"]["properties"])
    assert document["id"] == str(product.id)
    assert document["category_name"] == "Audio"
    assert document["category_id"] == str(child_id)
    assert document["category_slugs"] == ["audio", "electronics"]
    assert document["available"] == 4  # summed over the (active) variants given
    assert document["variant_skus"] == ["HOOD-L-RED", "HOOD-M-RED"]
    assert document["variants"][0] == {
        "options": ['["Color","Red"]', '["Size","M"]'],
        "price": 1999,
        "available": 3,
    }
    assert document["status"] == "active"
    assert document["price"] == 1999
    assert document["created_at"] == "2026-01-02T03:04:05+00:00"

    bare = product_document(_product(), [], [])
    assert (bare["category_name"], bare["category_id"], bare["category_slugs"]) == (None, None, [])
    assert (bare["available"], bare["variants"], bare["variant_skus"]) == (0, [], [])


def test_a_text_search_is_fuzzy_filtered_and_faceted() -> None:
    request = build_search(
        ProductQuery(q="wireles headphnes", min_price=100, max_price=5000, in_stock=True)
    )
    boolean = request["query"]["bool"]
    [text] = boolean["must"]
    # Each clause is worth fixed points: a score never depends on the rest of the index.
    [either] = text["bool"]["must"]
    words, sku = either["bool"]["should"]
    assert either["bool"]["minimum_should_match"] == 1
    exact = {"value": "wireles headphnes"}
    either_sku = [{"term": {"sku": exact}}, {"term": {"variant_skus": exact}}]
    assert sku == {
        "constant_score": {"filter": {"bool": {"should": either_sku}}, "boost": 100_000.0}
    }
    assert words["bool"]["minimum_should_match"] == 2  # every word
    wireles, headphnes = (clause["dis_max"]["queries"] for clause in words["bool"]["should"])
    ways = {
        (kind, str(args.get("fuzziness", 0)), tuple(args.get("fields", ()))): points
        for way in wireles
        for points in [way["constant_score"]["boost"]]
        for kind, args in way["constant_score"]["filter"].items()
    }
    assert ways == {
        ("multi_match", "0", ("name", "name.folded")): 10_010,
        ("multi_match", "0", ("category_name",)): 10_000.25,
        ("multi_match", "0", ("description", "sku.text")): 10_000,
        ("multi_match", "1", ("name.folded",)): 9_910,
        ("multi_match", "1", ("category_name",)): 9_900.25,
        ("multi_match", "1", ("description", "sku.text")): 9_900,
    }  # 7 letters: one typo; not the last word: no prefix
    boosts = sorted(way["constant_score"]["boost"] for way in headphnes)
    assert boosts == [
        9_800, 9_800.25, 9_810, 9_900, 9_900.25, 9_910,  # two typos, one
        10_000, 10_000, 10_000.25, 10_000.25, 10_010, 10_010,  # as typed and as a prefix
    ]  # fmt: skip
    [phrase] = text["bool"]["should"]
    assert phrase["constant_score"]["boost"] == 0.5
    assert boolean["filter"] == [{"term": {"status": "active"}}]
    # Price and stock: one variant has both; after the aggregations (post_filter).
    one_variant = {
        "nested": {
            "path": "variants",
            "query": {
                "bool": {
                    "filter": [
                        {"range": {"variants.price": {"gte": 100, "lte": 5000}}},
                        {"range": {"variants.available": {"gt": 0}}},
                    ]
                }
            },
            "ignore_unmapped": True,  # an index from before variants: nothing, not a 400
        }
    }
    assert request["post_filter"] == {"bool": {"filter": [one_variant]}}
    assert request["sort"] == [{"_score": "desc"}, {"id": "desc"}]
    assert request["size"] == 21
    assert request["track_total_hits"] is True
    assert request["_source"] is False
    categories = request["aggs"]["categories"]
    assert categories["filter"] == {"bool": {"filter": [one_variant]}}
    assert categories["aggs"]["slugs"]["terms"]["field"] == "category_slugs"
    assert "search_after" not in request


def test_the_category_filter_leaves_the_facet_alone() -> None:
    request = build_search(ProductQuery(category="audio", status=ProductStatus.DRAFT))
    assert request["post_filter"] == {"bool": {"filter": [{"term": {"category_slugs": "audio"}}]}}
    assert request["aggs"]["categories"]["filter"] == {"bool": {"filter": []}}
    assert request["query"] == {"bool": {"filter": [{"term": {"status": "draft"}}]}}
    assert "must" not in request["query"]["bool"]


def test_out_of_stock_is_a_filter_too() -> None:
    request = build_search(ProductQuery(in_stock=False))
    in_stock = {"range": {"variants.available": {"gt": 0}}}
    none_stocked = {
        "bool": {
            "must_not": [
                {
                    "nested": {
                        "path": "variants",
                        "query": {"bool": {"filter": [in_stock]}},
                        "ignore_unmapped": True,
                    }
                }
            ]
        }
    }
    assert request["post_filter"] == {"bool": {"filter": [none_stocked]}}


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (SortOrder.PRICE_ASC, [{"price": "asc"}, {"id": "asc"}]),
        (SortOrder.PRICE_DESC, [{"price": "desc"}, {"id": "desc"}]),
        (SortOrder.NEWEST, [{"created_at": "desc"}, {"id": "desc"}]),
        (SortOrder.NAME, [{"name.sort": "asc"}, {"id": "asc"}]),
    ],
)
def test_sorts_end_with_the_id_for_a_total_order(
    sort: SortOrder, expected: list[dict[str, str]]
) -> None:
    assert build_search(ProductQuery(sort=sort, limit=7))["sort"] == expected
    assert build_search(ProductQuery(sort=sort, limit=7))["size"] == 8


@pytest.mark.parametrize(
    ("sort", "values"),
    [
        (SortOrder.RELEVANCE, [3.14159265358979, "b7a1"]),
        (SortOrder.PRICE_ASC, [1999, "b7a1"]),
        (SortOrder.NEWEST, [1767323045000, "b7a1"]),
        (SortOrder.NAME, ['café "quoted"', "b7a1"]),
    ],
)
def test_search_after_travels_in_the_cursor(sort: SortOrder, values: list[Any]) -> None:
    cursor = encode_search_after(sort, values)
    assert decode_search_after(cursor, sort) == values
    query = ProductQuery(q="x" if sort is SortOrder.RELEVANCE else None, sort=sort, cursor=cursor)
    assert build_search(query)["search_after"] == values


def test_forged_search_after_cursors_are_refused() -> None:
    good = encode_search_after(SortOrder.PRICE_ASC, [1, "a"])
    with pytest.raises(InvalidCursorError):
        decode_search_after(good, SortOrder.NAME)
    for values in ([1], [1, 2], [{"script": 1}, "a"], [True, "a"], [1, "a", "b"]):
        with pytest.raises(InvalidCursorError):
            decode_search_after(
                encode_search_after(SortOrder.PRICE_ASC, values), SortOrder.PRICE_ASC
            )
    for raw in ("NaN", "Infinity", "-Infinity", "not json"):
        text = f'["price_asc", {raw}, "a"]'.encode()
        cursor = base64.urlsafe_b64encode(text).decode().rstrip("=")
        with pytest.raises(InvalidCursorError):
            decode_search_after(cursor, SortOrder.PRICE_ASC)
    with pytest.raises(InvalidCursorError):
        build_search(ProductQuery(sort=SortOrder.NAME, cursor="garbage"))


def test_a_response_becomes_a_page() -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    response = {
        "hits": {
            "total": {"value": 42, "relation": "eq"},
            "hits": [{"_id": str(i), "sort": [100 + n, str(i)]} for n, i in enumerate(ids)],
        },
        "aggregations": {
            "categories": {
                "slugs": {
                    "buckets": [
                        {"key": "audio", "doc_count": 5},
                        {"key": "electronics", "doc_count": 9},
                        {"key": "books", "doc_count": 5},
                    ]
                }
            },
        },
    }
    query = ProductQuery(sort=SortOrder.PRICE_ASC, limit=2)
    page = read_page(response, query)
    assert page.ids == ids[:2]
    assert page.total == 42
    assert page.next_cursor is not None
    assert decode_search_after(page.next_cursor, SortOrder.PRICE_ASC) == [101, str(ids[1])]
    assert [(f.slug, f.count) for f in page.facets] == [
        ("electronics", 9),
        ("audio", 5),
        ("books", 5),
    ]
    assert page.option_facets == {}

    last = read_page(response, ProductQuery(sort=SortOrder.PRICE_ASC, limit=3))
    assert last.next_cursor is None


def test_new_indices_are_timestamped_behind_the_alias() -> None:
    name = new_index_name("products", datetime(2026, 11, 25, 1, 2, 3, 456789, tzinfo=UTC))
    assert name == "products-20261125010203456789"


async def test_the_backend_is_chosen_by_settings(
    databases: Databases, redis_url: str, tmp_path: Any
) -> None:
    tokens = Tokens(key=None, jwks_url="http://127.0.0.1:9/jwks.json", redis_url=redis_url)  # type: ignore[arg-type]
    assert isinstance(
        create_search_backend(search_settings(databases, tokens, tmp_path)), PostgresSearch
    )
    with pytest.raises(SearchConfigurationError):
        create_search_backend(
            search_settings(databases, tokens, tmp_path, search_backend="elasticsearch")
        )
    backend = create_search_backend(
        search_settings(
            databases,
            tokens,
            tmp_path,
            search_backend="elasticsearch",
            elasticsearch_url="http://127.0.0.1:9200",
            elasticsearch_index="catalog",
        )
    )
    assert isinstance(backend, EngineSearch)
    assert backend.alias == "catalog"
    state = SimpleNamespace(search=backend, sessionmaker=None)
    handlers = search_outbox_handlers(SimpleNamespace(state=state))  # type: ignore[arg-type]
    assert set(handlers) == {PRODUCT_CHANGED, CATEGORY_CHANGED}
    await backend.aclose()

    with pytest.raises(SearchConfigurationError, match="OPENSEARCH_URL"):
        create_search_backend(
            search_settings(databases, tokens, tmp_path, search_backend="opensearch")
        )
    opensearch = search_settings(
        databases,
        tokens,
        tmp_path,
        search_backend="opensearch",
        opensearch_url="https://search.example.test/",
        opensearch_index="catalog",
        opensearch_username="shop",
        opensearch_password="secret",
    )
    assert opensearch.opensearch_url == "https://search.example.test"
    assert indexes_stock(opensearch)
    backend = create_search_backend(opensearch)
    assert isinstance(backend, EngineSearch)
    assert isinstance(backend.engine, OpenSearchEngine)
    assert backend.alias == "catalog"
    await backend.aclose()

    state = SimpleNamespace(search=PostgresSearch(), sessionmaker=None)
    noop = search_outbox_handlers(SimpleNamespace(state=state))  # type: ignore[arg-type]
    assert set(noop) == {PRODUCT_CHANGED, CATEGORY_CHANGED}
    await noop[PRODUCT_CHANGED]({"id": str(uuid.uuid4())})  # delivered, nothing else
