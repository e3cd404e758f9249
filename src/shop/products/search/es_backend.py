"""The search-engine backend (``SEARCH_BACKEND=elasticsearch`` or ``opensearch``).

The engine finds and orders the ids; the products themselves are loaded from
PostgreSQL (the source of truth) in the order found, so a page never shows a
stale price or name. A product deleted since it was indexed is left out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.errors import UpstreamUnavailableError
from shop.products.repositories import ProductRepository
from shop.products.search.engine import SearchEngine, SearchEngineError
from shop.products.search.es_query import (
    build_probe,
    build_search,
    encode_search_after,
    read_option_facets,
    words_matched,
)
from shop.products.search.port import CategoryFacet, OptionFacets, SearchPage, option_facets
from shop.products.search.query import ProductQuery

log = structlog.get_logger("shop.products.search")


@dataclass
class ReadPage:
    ids: list[uuid.UUID]
    total: int
    next_cursor: str | None
    facets: list[CategoryFacet]
    option_facets: OptionFacets


def read_page(response: dict[str, Any], query: ProductQuery) -> ReadPage:
    """Ids in order, total, next cursor and facets of a search response (pure)."""
    hits = response["hits"]["hits"]
    next_cursor = None
    if len(hits) > query.limit:
        hits = hits[: query.limit]
        next_cursor = encode_search_after(query.effective_sort, list(hits[-1]["sort"]))
    aggregations = response.get("aggregations", {})
    buckets = aggregations.get("categories", {}).get("slugs", {}).get("buckets", [])
    facets = sorted(
        (CategoryFacet(slug=b["key"], count=b["doc_count"]) for b in buckets if b["doc_count"]),
        key=lambda facet: (-facet.count, facet.slug),
    )
    ids = [uuid.UUID(hit["_id"]) for hit in hits]
    return ReadPage(
        ids,
        int(response["hits"]["total"]["value"]),
        next_cursor,
        facets,
        option_facets(read_option_facets(aggregations, query)),
    )


class EngineSearch:
    """``engine``: an Elasticsearch or OpenSearch adapter; ``alias``: what it searches."""

    def __init__(self, engine: SearchEngine, alias: str) -> None:
        self.engine = engine
        self.alias = alias

    async def aclose(self) -> None:
        await self.engine.aclose()

    async def search(self, session: AsyncSession, query: ProductQuery) -> SearchPage:
        body = build_search(query)  # a bad cursor is a 400 before any request
        try:
            response = await self.engine.search(self.alias, body)
            probe = build_probe(query)
            if not response["hits"]["total"]["value"] and probe is not None:
                # No product has every word: the best partial matches, those of the most.
                best = (await self.engine.search(self.alias, probe))["hits"]["hits"]
                if best:
                    least = words_matched(float(best[0]["_score"]))
                    response = await self.engine.search(self.alias, build_search(query, least))
        except SearchEngineError as exc:
            log.warning("search failed", error=str(exc))
            raise UpstreamUnavailableError("Search is unavailable; try again shortly.") from exc
        page = read_page(response, query)
        products = await ProductRepository(session).in_order(page.ids)
        return SearchPage(
            products=products,
            total=page.total,
            next_cursor=page.next_cursor,
            facets=page.facets,
            option_facets=page.option_facets,
        )
