"""The :class:`SearchEngine` adapter of the official ``elasticsearch`` client.

That client checks that the server says it is Elasticsearch and refuses others
(OpenSearch among them), so it is tested through its builders unless an
``ELASTICSEARCH_URL`` is given to the tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from elasticsearch.helpers import BulkIndexError, async_bulk

from shop.products.search.engine import SearchEngineError

REQUEST_TIMEOUT_SECONDS = 5.0


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (TransportError, ApiError, BulkIndexError) as exc:
        raise SearchEngineError(f"{type(exc).__name__}: {str(exc)[:300]}") from exc


def bulk_actions(index: str, documents: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Bulk ``index`` actions in the form both clients' helpers take."""
    return [
        {"_op_type": "index", "_index": index, "_id": doc_id, "_source": dict(document)}
        for doc_id, document in documents.items()
    ]


class ElasticsearchEngine:
    def __init__(self, client: AsyncElasticsearch) -> None:
        self.client = client

    @classmethod
    def connect(cls, url: str) -> ElasticsearchEngine:
        return cls(AsyncElasticsearch(url, request_timeout=REQUEST_TIMEOUT_SECONDS, max_retries=1))

    async def ping(self) -> None:
        with _translated():
            await self.client.info()

    async def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with _translated():
            response = await self.client.search(index=index, body=dict(body))
        return dict(response.body)

    async def alias_exists(self, alias: str) -> bool:
        with _translated():
            return bool(await self.client.indices.exists_alias(name=alias))

    async def index_exists(self, index: str) -> bool:
        with _translated():
            return bool(await self.client.indices.exists(index=index))

    async def indices_of_alias(self, alias: str) -> list[str]:
        with _translated():
            if not await self.client.indices.exists_alias(name=alias):
                return []
            return list((await self.client.indices.get_alias(name=alias)).body)

    async def create_index(
        self, index: str, definition: Mapping[str, Any], alias: str | None = None
    ) -> None:
        aliases: dict[str, Any] | None = {alias: {}} if alias else None
        with _translated():
            await self.client.indices.create(index=index, aliases=aliases, **definition)

    async def put_document(self, alias: str, doc_id: str, document: Mapping[str, Any]) -> None:
        with _translated():
            await self.client.index(
                index=alias, id=doc_id, document=dict(document), require_alias=True
            )

    async def delete_document(self, index: str, doc_id: str) -> None:
        with _translated(), contextlib.suppress(NotFoundError):
            await self.client.delete(index=index, id=doc_id)

    async def bulk_index(
        self, index: str, documents: Mapping[str, Mapping[str, Any]], *, require_alias: bool
    ) -> None:
        extra = {"require_alias": True} if require_alias else {}
        with _translated():
            await async_bulk(self.client, bulk_actions(index, documents), **extra)

    async def update_aliases(self, actions: list[dict[str, Any]]) -> None:
        with _translated():
            await self.client.indices.update_aliases(actions=actions)

    async def delete_index(self, index: str) -> None:
        with _translated():
            await self.client.indices.delete(index=index)

    async def refresh(self, index: str) -> None:
        with _translated():
            await self.client.indices.refresh(index=index)

    async def count(self, index: str) -> int:
        with _translated():
            return int((await self.client.count(index=index))["count"])

    async def aclose(self) -> None:
        await self.client.close()
