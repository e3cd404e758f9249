"""The search-engine backend's pure parts for variants: option terms, the nested
variant filter, option facet aggregations and how their buckets are read."""

from __future__ import annotations

import uuid
from typing import Any

from shop.products.search import ProductQuery, build_search
from shop.products.search.es_backend import read_page
from shop.products.search.es_mapping import option_term


def test_option_terms_spell_any_name_and_value_apart() -> None:
    assert option_term("Size", "M") == '["Size","M"]'
    # A separator in a name or value cannot make two pairs one.
    assert option_term("a:b", "c") != option_term("a", "b:c")
    assert option_term('Say "hi"', "x") == '["Say \\"hi\\"","x"]'


def test_option_filters_ask_one_variant_and_facets_leave_their_own_aside() -> None:
    query = ProductQuery.model_validate(
        {"option.Size": ["M", "L"], "option.Color": "Red", "category": "tops", "in_stock": True}
    )
    request = build_search(query)
    [one_variant, category] = request["post_filter"]["bool"]["filter"]
    assert category == {"term": {"category_slugs": "tops"}}
    assert one_variant["nested"]["path"] == "variants"
    assert one_variant["nested"]["query"]["bool"]["filter"] == [
        {"terms": {"variants.options": ['["Color","Red"]']}},
        {"terms": {"variants.options": ['["Size","L"]', '["Size","M"]']}},
        {"range": {"variants.available": {"gt": 0}}},
    ]
    aggs = request["aggs"]
    assert set(aggs) == {"categories", "options", "option_0", "option_1"}
    # Every option facet is within the category; Color's leaves the Color filter aside.
    color = aggs["option_0"]
    assert color["filter"] == category
    matching = color["aggs"]["variants"]["aggs"]["matching"]
    assert matching["filter"] == {
        "bool": {"filter": [{"terms": {"variants.options": ['["Size","L"]', '["Size","M"]']}}]}
    }
    terms = matching["aggs"]["values"]["terms"]
    assert terms["include"] == '\\[\\"Color\\"\\,.*'
    others = aggs["options"]["aggs"]["variants"]["aggs"]["matching"]["aggs"]["values"]["terms"]
    assert others["exclude"] == '\\[\\"Color\\"\\,.*|\\[\\"Size\\"\\,.*'


def test_option_buckets_become_facets_counted_in_products() -> None:
    response = {
        "hits": {"total": {"value": 1, "relation": "eq"}, "hits": [
            {"_id": str(uuid.uuid4()), "sort": [1, "a"]}]},
        "aggregations": {
            "options": {"variants": {"matching": {"values": {"buckets": [
                _option_bucket('["Size","M"]', products=4, stocked=1),
                _option_bucket('["Color","Red"]', products=4, stocked=4),
            ]}}}},
            "option_0": {"variants": {"matching": {"values": {"buckets": [
                _option_bucket('["Size","L"]', products=6, stocked=0),
            ]}}}},
        },
    }  # fmt: skip
    asked = {"option.Size": "L"}
    page = read_page(response, ProductQuery.model_validate(asked))
    counts = {
        name: [(v.value, v.count) for v in values] for name, values in page.option_facets.items()
    }
    assert counts == {"Color": [("Red", 4)], "Size": [("L", 6), ("M", 4)]}
    # Counted in products: with in_stock, those with a variant in stock (or none in stock).
    stocked = read_page(response, ProductQuery.model_validate({**asked, "in_stock": True}))
    assert [(v.value, v.count) for v in stocked.option_facets["Size"]] == [("M", 1)]
    sold_out = read_page(response, ProductQuery.model_validate({**asked, "in_stock": False}))
    assert [(v.value, v.count) for v in sold_out.option_facets["Size"]] == [("L", 6), ("M", 3)]
    assert "Color" not in sold_out.option_facets


def _option_bucket(key: str, *, products: int, stocked: int) -> dict[str, Any]:
    return {
        "key": key,
        "doc_count": products * 2,  # variants
        "products": {"doc_count": products},
        "stocked": {"doc_count": stocked, "products": {"doc_count": stocked}},
    }
