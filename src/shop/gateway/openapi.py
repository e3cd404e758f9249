"""The merged OpenAPI document: the gateway's own paths plus every service's.

Service documents are fetched on demand and cached briefly. A service that
is down leaves its paths out (and says so in the description) rather than
failing the whole document. Component schemas that two services name alike
but define differently are renamed with the service's name.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import httpx
import structlog

from shop.gateway.upstreams import Upstream

log = structlog.get_logger("shop.gateway.openapi")

SCHEMA_REF = "#/components/schemas/"


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                SCHEMA_REF + renames.get(value[len(SCHEMA_REF) :], value[len(SCHEMA_REF) :])
                if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF)
                else _rename_refs(value, renames)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def _renames(service: str, theirs: dict[str, Any], ours: dict[str, Any]) -> dict[str, str]:
    """Their schemas that must take the service's name: those defined differently from
    ours, and then those spelled alike that refer to a renamed one (their ``Page`` of
    their ``Item`` is not our ``Page`` of our ``Item``), until no more change."""
    renames: dict[str, str] = {}
    while True:
        renamed = _rename_refs(theirs, renames)
        more = {
            name: f"{service}_{name}"
            for name, schema in renamed.items()
            if name in ours and name not in renames and ours[name] != schema
        }
        if not more:
            return renames
        renames.update(more)


def merge_documents(base: dict[str, Any], services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    paths: dict[str, Any] = merged.setdefault("paths", {})
    schemas: dict[str, Any] = merged.setdefault("components", {}).setdefault("schemas", {})
    tags: list[dict[str, Any]] = merged.setdefault("tags", [])
    for service, document in services.items():
        theirs: dict[str, Any] = document.get("components", {}).get("schemas", {})
        renames = _renames(service, theirs, schemas)
        document = _rename_refs(document, renames)
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            schemas.setdefault(renames.get(name, name), schema)
        for path, item in document.get("paths", {}).items():
            # Platform and service-to-service paths are not part of the public API.
            if not path.startswith(("/health", "/internal/")) and path != "/metrics":
                paths.setdefault(path, item)
        known = {tag.get("name") for tag in tags}
        tags.extend(tag for tag in document.get("tags", []) if tag.get("name") not in known)
    return merged


class MergedOpenAPI:
    def __init__(self, client: httpx.AsyncClient, upstreams: list[Upstream], ttl: float = 10.0):
        self.client = client
        self.upstreams = upstreams
        self.ttl = ttl
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self, upstream: Upstream) -> dict[str, Any] | None:
        for base_url in upstream.order():
            try:
                response = await self.client.get(base_url + "/openapi.json", timeout=3.0)
                response.raise_for_status()
                document: dict[str, Any] = response.json()
                return document
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("openapi unavailable", upstream=upstream.name, error=repr(exc))
        return None

    async def document(self, base: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            if self._cached and now - self._cached[0] < self.ttl:
                return self._cached[1]
            fetched = await asyncio.gather(*(self._fetch(u) for u in self.upstreams))
            found = {u.name: doc for u, doc in zip(self.upstreams, fetched, strict=True) if doc}
            merged = merge_documents(base, found)
            missing = [u.name for u in self.upstreams if u.name not in found]
            if missing:
                merged["info"]["description"] = (
                    merged["info"].get("description", "")
                    + f"\n\nUnavailable right now, paths missing: {', '.join(missing)}."
                )
            else:
                # Only a complete document is worth caching.
                self._cached = (now, merged)
            return merged
