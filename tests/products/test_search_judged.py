"""The judged query set (search_judged.py) over the demo catalog, on every backend:
the floors `make test` holds search to. `make bench` reports the same figures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from shop.cli.demo import demo_catalog
from shop.products.models import ProductStatus
from shop.products.search import PostgresSearch, ProductQuery
from tests.products.search_engines import every_backend
from tests.products.search_judged import (
    JUDGED_CATALOG_SIZE,
    JUDGED_QUERIES,
    RECALL_FLOOR,
    TOP,
    judge,
    score,
)
from tests.products.search_node import opensearch_url
from tests.products.search_support import (
    Catalog,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)

__all__ = ["opensearch_url", "search", "search_catalog", "search_tokens"]  # fixtures


async def load_demo_catalog(catalog: Catalog, size: int = JUDGED_CATALOG_SIZE) -> None:
    """The demo catalog's first ``size`` products, as `shop seed-demo` makes them."""
    demo = demo_catalog(size)
    for category in demo.categories:  # parents first
        await catalog.category(category.name, category.slug, parent=category.parent_slug)
    specs: list[dict[str, Any]] = [
        {
            "sku": product.sku,
            "slug": product.slug,
            "name": product.name,
            "description": product.description,
            "price": product.price,
            "category": product.category_slug,
            "attributes": product.attributes,
            "status": product.status,
            "on_hand": product.initial_stock,
        }
        for product in demo.products
    ]
    await catalog.products(*specs)


def test_the_judged_set_covers_every_kind_of_query_and_each_has_an_answer() -> None:
    judged = judge(demo_catalog(JUDGED_CATALOG_SIZE))
    kinds = {query.kind for query in judged}
    assert len(judged) >= 80
    assert kinds == {
        "exact", "typo", "typos2", "transposition", "prefix", "words", "apart", "sku",
        "accents", "number", "brand",
    }  # fmt: skip
    assert len({q for _, q, _ in JUDGED_QUERIES}) == len(JUDGED_QUERIES)
    assert [query.q for query in judged if not query.expected] == []
    active = {
        p.sku
        for p in demo_catalog(JUDGED_CATALOG_SIZE).products
        if p.status is ProductStatus.ACTIVE
    }
    assert all(set(query.grades) <= active for query in judged)


@every_backend
async def test_the_judged_queries_find_what_a_shopper_expects(search: SearchFixture) -> None:
    await load_demo_catalog(search.catalog)
    judged = judge(demo_catalog(JUDGED_CATALOG_SIZE))
    answers = {}
    for query in judged:
        page = await search.list(q=query.q, limit=TOP)
        answers[query.q] = [item["sku"] for item in page["items"]]

    scores = score(judged, answers)

    detail = (
        f"recall@10 {scores.recall:.3f}, nDCG@10 {scores.ndcg:.3f}; under the floor: {scores.worst}"
    )
    print(detail)  # shown with -s: the figures, not only the floors
    assert scores.empty_but_expected == [], detail
    assert scores.recall >= RECALL_FLOOR, detail


async def test_a_text_search_reads_products_by_index_only(search_catalog: Catalog) -> None:
    """Every statement of a search, explained: the products table is read through its
    indexes (the GIN index of the vector, the primary key), never scanned whole, and no
    trigram comparison touches it (typos are corrected against the vocabulary)."""
    await load_demo_catalog(search_catalog)
    async with search_catalog.engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE products")
        await connection.exec_driver_sql("ANALYZE search_vocabulary")
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    sync_engine = search_catalog.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
        async with search_catalog.sessionmaker() as session:
            for q in ("wireles headphnes", "sonora headphones", "gaming espresso", "headph"):
                await PostgresSearch().search(session, ProductQuery(q=q))
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)

    plans = []
    async with search_catalog.engine.connect() as connection:
        for statement, parameters in statements:
            explained = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
            plans.append("\n".join(row[0] for row in explained))
    assert plans
    for plan in plans:
        assert "Seq Scan on products" not in plan, plan
        assert "ix_products_name_trgm" not in plan, plan  # no trigram search of names
        assert "similarity" not in plan, plan
