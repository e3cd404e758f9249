"""Variant search kept in step with writes, and its plans: PostgreSQL reads variants as
they are (the cache is invalidated by the write), a search engine's index follows
through the outbox, and option filters have plans by indexes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from shop.products.search import PostgresSearch, ProductQuery
from tests.products.search_engines import EngineIndex, engine_index
from tests.products.search_node import opensearch_url
from tests.products.search_support import (
    LISTING,
    Catalog,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)
from tests.products.test_search_engines import _reindexed, engine_search, eventually
from tests.products.variant_support import (
    API,
    SIZE_COLOR,
    create,
    hoodie_tee_mug,
    load_demo_catalog_with_variants,
    names,
    restock,
    variant,
)

__all__ = [  # fixtures
    "engine_index",
    "engine_search",
    "opensearch_url",
    "search",
    "search_catalog",
    "search_tokens",
]


async def test_a_variant_write_shows_in_the_next_listing(search: SearchFixture) -> None:
    """PostgreSQL reads the variants as they are: a variant added, repriced, archived
    or restocked shows in the next listing (the cache is invalidated by the write)."""
    made = await hoodie_tee_mug(search)
    tee = made["tee"]
    assert await names(search, ("option.Color", "Red")) == ["Hoodie"]

    added = await search.client.post(
        f"{API}/products/{tee['id']}/variants",
        json=variant("ZX-4410", 2500, stock=0, Size="L", Color="Red"),
        headers=search.admin,
    )
    assert added.status_code == 201, added.text
    assert await names(search, ("option.Color", "Red")) == ["Hoodie", "Tee"]
    assert await names(search, ("option.Color", "Red"), ("in_stock", "true")) == ["Hoodie"]
    assert await names(search, ("q", "ZX-4410")) == ["Tee"]

    await restock(search, tee["id"], added.json()["id"], 2)
    # A cached page may lag a stock change by 2 s (docs/search.md): another query.
    restocked_red = [("option.Color", "Red"), ("in_stock", "true"), ("sort", "name")]
    assert await names(search, *restocked_red) == ["Hoodie", "Tee"]

    repriced = await search.client.patch(
        f"{API}/products/{tee['id']}/variants/{added.json()['id']}",
        json={"price": 9900},
        headers=search.admin,
    )
    assert repriced.status_code == 200, repriced.text
    assert await names(search, ("min_price", 9000)) == ["Tee"]

    gone = await search.client.delete(
        f"{API}/products/{tee['id']}/variants/{added.json()['id']}", headers=search.admin
    )
    assert gone.status_code == 204, gone.text
    assert await names(search, ("option.Color", "Red")) == ["Hoodie"]
    assert await names(search, ("min_price", 9000)) == []
    assert await names(search, ("q", "ZX-4410")) == []


async def test_variant_writes_reach_the_engine_through_the_outbox(
    engine_search: SearchFixture, engine_index: EngineIndex
) -> None:
    """A variant added, repriced, restocked or archived re-indexes its product (the
    outbox's product.changed), so the engine's filters follow."""
    search = engine_search
    await _reindexed(engine_index, search.catalog)
    tee = await create(
        search,
        {
            "sku": "TEE",
            "name": "Tee",
            "options": SIZE_COLOR,
            "variants": [variant("TEE-M-BLUE", 1500, Size="M", Color="Blue")],
        },
    )

    async def finds(*params: tuple[str, Any], expected: list[str]) -> None:
        async def check() -> bool:
            await engine_index.engine.refresh(engine_index.alias)
            await search.catalog.invalidate()  # the cache's generation, not the index's
            response = await search.client.get(LISTING, params=list(params))
            assert response.status_code == 200, response.text
            return sorted(item["name"] for item in response.json()["items"]) == expected

        await eventually(check)

    await finds(("option.Size", "M"), expected=["Tee"])
    added = await search.client.post(
        f"{API}/products/{tee['id']}/variants",
        json=variant("ZX-4410", 2500, stock=0, Size="L", Color="Red"),
        headers=search.admin,
    )
    assert added.status_code == 201, added.text
    red = added.json()["id"]
    await finds(("option.Color", "Red"), ("option.Size", "L"), expected=["Tee"])
    await finds(("q", "ZX-4410"), expected=["Tee"])
    await finds(("option.Color", "Red"), ("in_stock", "true"), expected=[])

    await restock(search, tee["id"], red, 2)
    await finds(("option.Color", "Red"), ("in_stock", "true"), expected=["Tee"])

    repriced = await search.client.patch(
        f"{API}/products/{tee['id']}/variants/{red}", json={"price": 9900}, headers=search.admin
    )
    assert repriced.status_code == 200, repriced.text
    await finds(("min_price", 9000), expected=["Tee"])

    archived = await search.client.delete(
        f"{API}/products/{tee['id']}/variants/{red}", headers=search.admin
    )
    assert archived.status_code == 204, archived.text
    await finds(("option.Color", "Red"), expected=[])
    await finds(("min_price", 9000), expected=[])
    await finds(("q", "ZX-4410"), expected=[])


async def test_option_filters_can_read_variants_by_index(search_catalog: Catalog) -> None:
    """Every statement of searches with option, price and stock filters, explained
    with sequential scans priced out (``enable_seqscan = off``): each has a plan that
    reads products, variants and stock through their indexes (the GIN index of active
    variants' options, the variants' product index), never a whole table. Whether the
    planner takes it is a matter of costs: on this small catalog it hashes all
    2,000 variants instead, which is cheaper than any index."""
    await load_demo_catalog_with_variants(search_catalog)
    async with search_catalog.engine.begin() as connection:
        for table in ("products", "product_variants", "inventory", "search_vocabulary"):
            await connection.exec_driver_sql(f"ANALYZE {table}")
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    queries = [
        {"option.Size": "M", "category": "fashion"},
        {"option.Size": ["M", "L"], "option.Colour": "Olive", "category": "jackets"},
        {"option.Storage": "1 TB", "in_stock": True, "category": "laptops"},
        {"q": "puffer", "option.Size": "M"},
        {"q": "laptop", "option.Storage": "1 TB", "min_price": 100_000, "in_stock": False},
    ]
    sync_engine = search_catalog.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
        async with search_catalog.sessionmaker() as session:
            for params in queries:
                page = await PostgresSearch().search(session, ProductQuery.model_validate(params))
                assert page.total, params  # the demo catalog has some of each
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)

    plans = []
    async with search_catalog.engine.connect() as connection:
        await connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explained = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
            plans.append("\n".join(row[0] for row in explained))
    assert plans
    for plan in plans:
        for table in ("products", "product_variants", "inventory"):
            assert f"Seq Scan on {table} " not in plan, plan
    assert any("ix_product_variants_active_options" in plan for plan in plans)
