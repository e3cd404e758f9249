"""The Elasticsearch index of products: analyzers, mapping and documents (pure functions).

Analyzers: ``folded`` lowercases and folds accents (``Café`` is ``cafe``);
``folded_english`` also stems (``headphones`` is ``headphon``); ``autocomplete``
indexes edge n-grams of 2 to 20 characters so that a prefix finds a word.
Typos are forgiven at query time (``fuzziness: AUTO``, see es_query).

A document carries the product's category slug *and those of its ancestors*
(``category_slugs``): filtering on one slug finds its whole subtree, and a terms
aggregation on the field counts each category's subtree, like the PostgreSQL
backend. Every status is indexed; queries filter on it.

Variants: the product's **active** variants as ``nested`` objects (each its own
hidden document, so that "one variant has Size M *and* is in stock" is one
variant's, not M on one and stock on another as a flattened array would say):
each with its option values, price and available units. An option value is one
keyword, the JSON array ``["Size","M"]`` (:func:`option_term`): option names are
free text, and JSON spells any name and value without ambiguity, where a
separator character could occur in either. Their SKUs are also in
``variant_skus`` at the top, for the exact SKU match of a search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from shop.products.models import Category, Product

EDGE_NGRAM_MIN = 2
EDGE_NGRAM_MAX = 20


def index_settings(*, shards: int = 1, replicas: int = 1) -> dict[str, Any]:
    return {
        "number_of_shards": shards,
        "number_of_replicas": replicas,
        "max_ngram_diff": EDGE_NGRAM_MAX - EDGE_NGRAM_MIN,
        "analysis": {
            "filter": {
                "english_stop": {"type": "stop", "stopwords": "_english_"},
                "english_stemmer": {"type": "stemmer", "language": "english"},
                "english_possessive": {"type": "stemmer", "language": "possessive_english"},
                "edge_ngrams": {
                    "type": "edge_ngram",
                    "min_gram": EDGE_NGRAM_MIN,
                    "max_gram": EDGE_NGRAM_MAX,
                },
            },
            "normalizer": {
                "folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]},
            },
            "analyzer": {
                "folded": {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": ["lowercase", "asciifolding"],
                },
                "folded_english": {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": [
                        "english_possessive",
                        "lowercase",
                        "asciifolding",
                        "english_stop",
                        "english_stemmer",
                    ],
                },
                "autocomplete": {
                    "type": "custom",
                    "tokenizer": "standard",
                    "filter": ["lowercase", "asciifolding", "edge_ngrams"],
                },
            },
        },
    }


def index_mappings() -> dict[str, Any]:
    english = {"type": "text", "analyzer": "folded_english"}
    return {
        "dynamic": "strict",
        "properties": {
            "id": {"type": "keyword"},
            "sku": {
                "type": "keyword",
                "normalizer": "folded",
                "fields": {"text": {"type": "text", "analyzer": "folded"}},
            },
            "name": {
                **english,
                "fields": {
                    "folded": {"type": "text", "analyzer": "folded"},
                    "prefix": {
                        "type": "text",
                        "analyzer": "autocomplete",
                        "search_analyzer": "folded",
                    },
                    "sort": {"type": "keyword", "normalizer": "folded"},
                },
            },
            "description": english,
            "category_name": english,
            "category_id": {"type": "keyword"},
            "category_slugs": {"type": "keyword"},
            "price": {"type": "long"},
            "currency": {"type": "keyword"},
            "status": {"type": "keyword"},
            "available": {"type": "integer"},
            "variant_skus": {"type": "keyword", "normalizer": "folded"},
            "variants": {
                "type": "nested",
                "properties": {
                    "options": {"type": "keyword"},
                    "price": {"type": "long"},
                    "available": {"type": "integer"},
                },
            },
            "created_at": {"type": "date"},
            "updated_at": {"type": "date"},
        },
    }


def index_definition() -> dict[str, Any]:
    """Keyword arguments of ``indices.create``: ``settings`` and ``mappings``."""
    return {"settings": index_settings(), "mappings": index_mappings()}


def option_term(name: str, value: str) -> str:
    """An option value as the index holds it: ``["Size","M"]``."""
    return orjson.dumps([name, value]).decode()


@dataclass(frozen=True)
class IndexedVariant:
    """What the index keeps of an active variant."""

    sku: str
    options: dict[str, str]
    price: int
    available: int


def product_document(
    product: Product, lineage: Sequence[Category], variants: Sequence[IndexedVariant]
) -> dict[str, Any]:
    """The indexed form of a product. ``lineage``: its category and the category's
    ancestors, in any order (empty without a category); ``variants``: its active
    ones (``available``, the product's, is their sum)."""
    own = next((c for c in lineage if c.id == product.category_id), None)
    return {
        "id": str(product.id),
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category_name": own.name if own else None,
        "category_id": str(product.category_id) if product.category_id else None,
        "category_slugs": sorted(c.slug for c in lineage),
        "price": product.price,
        "currency": product.currency,
        "status": product.status.value,
        "available": sum(v.available for v in variants),
        "variant_skus": sorted(v.sku for v in variants),
        "variants": [
            {
                "options": sorted(option_term(n, value) for n, value in v.options.items()),
                "price": v.price,
                "available": v.available,
            }
            for v in variants
        ],
        "created_at": product.created_at.isoformat(),
        "updated_at": product.updated_at.isoformat(),
    }
