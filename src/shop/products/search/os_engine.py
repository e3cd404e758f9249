"""The :class:`SearchEngine` adapter of the official ``opensearch-py`` client
(``SEARCH_BACKEND=opensearch``): an OpenSearch node or cluster, e.g. AWS
OpenSearch Service or the single node of tools/search-node.

The async client runs on aiohttp. TLS follows the URL's scheme; ``ca_bundle``
names a PEM file of the certificate authorities to trust (else the system's);
credentials are HTTP basic (OpenSearch's security plugin and AWS's fine-grained
access control both take them).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from opensearchpy import AsyncOpenSearch, NotFoundError, OpenSearchException
from opensearchpy.helpers import async_bulk

from shop.products.search.engine import SearchEngineError
from shop.products.search.es_engine import REQUEST_TIMEOUT_SECONDS, bulk_actions

# The client logs every request at INFO; failures reach our own logs as SearchEngineError.
logging.getLogger("opensearch").setLevel(logging.WARNING)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (OpenSearchException, OSError) as exc:
        raise SearchEngineError(f"{type(exc).__name__}: {str(exc)[:300]}") from exc


class OpenSearchEngine:
    def __init__(self, client: AsyncOpenSearch) -> None:
        self.client = client

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_bundle: str | None = None,
    ) -> OpenSearchEngine:
        options: dict[str, Any] = {"timeout": REQUEST_TIMEOUT_SECONDS, "max_retries": 1}
        if username is not None:
            options["http_auth"] = (username, password or "")
        if url.startswith("https://"):
            options["verify_certs"] = True
            if ca_bundle:
                options["ca_certs"] = ca_bundle
        return cls(AsyncOpenSearch(hosts=[url], **options))

    async def ping(self) -> None:
        with _translated():
            await self.client.info()

    async def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with _translated():
            response: dict[str, Any] = await self.client.search(index=index, body=dict(body))
        return response

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
            return list(await self.client.indices.get_alias(name=alias))

    async def create_index(
        self, index: str, definition: Mapping[str, Any], alias: str | None = None
    ) -> None:
        body = {**definition, **({"aliases": {alias: {}}} if alias else {})}
        with _translated():
            await self.client.indices.create(index=index, body=body)

    async def put_document(self, alias: str, doc_id: str, document: Mapping[str, Any]) -> None:
        with _translated():
            await self.client.index(index=alias, id=doc_id, body=dict(document), require_alias=True)

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
            await self.client.indices.update_aliases(body={"actions": actions})

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
