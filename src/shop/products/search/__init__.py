"""Product search behind a small port: PostgreSQL, or a search engine (Elasticsearch or
OpenSearch, one backend over an adapter per client).

The listing route (shop.products.api_search) parses a :class:`ProductQuery`
and asks ``app.state.search`` (a :class:`SearchBackend`, see
:func:`search_resource`) for a :class:`SearchPage`.
"""

from shop.products.search.engine import SearchEngine, SearchEngineError
from shop.products.search.es_backend import EngineSearch
from shop.products.search.es_engine import ElasticsearchEngine
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
    create_search_engine,
    indexes_stock,
    search_outbox_handlers,
    search_resource,
)
from shop.products.search.os_engine import OpenSearchEngine
from shop.products.search.port import CategoryFacet, KeptPage, SearchBackend, SearchPage
from shop.products.search.postgres import PostgresSearch
from shop.products.search.query import ProductQuery, SortOrder, search_words

__all__ = [
    "CATEGORY_CHANGED",
    "PRODUCT_CHANGED",
    "CategoryFacet",
    "ElasticsearchEngine",
    "EngineSearch",
    "KeptPage",
    "OpenSearchEngine",
    "PostgresSearch",
    "ProductIndexer",
    "ProductQuery",
    "ReindexResult",
    "SearchBackend",
    "SearchConfigurationError",
    "SearchEngine",
    "SearchEngineError",
    "SearchPage",
    "SortOrder",
    "build_search",
    "create_search_backend",
    "create_search_engine",
    "ensure_index",
    "index_definition",
    "indexes_stock",
    "product_document",
    "reindex",
    "search_outbox_handlers",
    "search_resource",
    "search_words",
]
