"""What the index code needs of a search engine, so that one mapping, one query
builder and one indexer serve both Elasticsearch and OpenSearch.

The two engines agree on the REST API and the query DSL this backend uses
(mapping, analyzers, ``search_after``, aggregations, aliases, bulk with
``require_alias``); their official clients differ in how a call is spelled and
what they raise. An adapter per client (es_engine, os_engine) spells the calls
and turns every refusal or failure to connect into :class:`SearchEngineError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class SearchEngineError(Exception):
    """The engine refused a request or could not be reached."""


class SearchEngine(Protocol):
    """The calls the backend, the indexer and ``shop search reindex`` make.

    Documents are JSON objects keyed by id; ``definition`` is
    ``{"settings": ..., "mappings": ...}`` (es_mapping.index_definition)."""

    async def ping(self) -> None: ...

    async def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def alias_exists(self, alias: str) -> bool: ...

    async def index_exists(self, index: str) -> bool: ...

    async def indices_of_alias(self, alias: str) -> list[str]: ...

    async def create_index(
        self, index: str, definition: Mapping[str, Any], alias: str | None = None
    ) -> None: ...

    async def put_document(self, alias: str, doc_id: str, document: Mapping[str, Any]) -> None:
        """Indexes through ``alias`` only (``require_alias``): a missing alias is an error."""
        ...

    async def delete_document(self, index: str, doc_id: str) -> None:
        """Deletes a document; one that is not there is no error."""
        ...

    async def bulk_index(
        self, index: str, documents: Mapping[str, Mapping[str, Any]], *, require_alias: bool
    ) -> None: ...

    async def update_aliases(self, actions: list[dict[str, Any]]) -> None: ...

    async def delete_index(self, index: str) -> None: ...

    async def refresh(self, index: str) -> None: ...

    async def count(self, index: str) -> int: ...

    async def aclose(self) -> None: ...
