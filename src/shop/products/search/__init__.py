"""Product search behind a small port, with a PostgreSQL and an Elasticsearch backend.

The listing route (shop.products.api_search) parses a :class:`ProductQuery`
and asks ``app.state.search`` (a :class:`SearchBackend`, see
:func:`search_resource`) for a :class:`SearchPage`.
"""

from shop.products.search.es_backend import ElasticsearchSearch
from shop.products.search.es_indexer import (
    CATEGORY_CHANGED,
    PRODUCT_CHANGED,
    ProductIndexer,
    ReindexResult,
    ensure_index,
    reindex,
)
from shop.products.search.es_mapping import index_definition, product_document
from shop.products.search.es_query import build_search
from shop.products.search.factory import (
    SearchConfigurationError,
    create_search_backend,
    indexes_stock,
    search_outbox_handlers,
    search_resource,
)
from shop.products.search.port import CategoryFacet, SearchBackend, SearchPage
from shop.products.search.postgres import PostgresSearch
from shop.products.search.query import ProductQuery, SortOrder, search_words

__all__ = [
    "CATEGORY_CHANGED",
    "PRODUCT_CHANGED",
    "CategoryFacet",
    "ElasticsearchSearch",
    "PostgresSearch",
    "ProductIndexer",
    "ProductQuery",
    "ReindexResult",
    "SearchBackend",
    "SearchConfigurationError",
    "SearchPage",
    "SortOrder",
    "build_search",
    "create_search_backend",
    "ensure_index",
    "index_definition",
    "indexes_stock",
    "product_document",
    "reindex",
    "search_outbox_handlers",
    "search_resource",
    "search_words",
]
