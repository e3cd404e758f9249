"""Search over variants, through the products app: option filters (one variant has
every value asked), option facets, price and stock over active variants, variant SKUs.

The tests marked ``every_backend`` run on PostgreSQL and on the search engines
(search_engines.py), whose index each listing first brings in step with the database.
Products are written through the API, as an admin would.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from shop.cli.demo import demo_catalog
from shop.products.search import PostgresSearch, ProductQuery
from tests.products.search_engines import EngineIndex, engine_index, every_backend
from tests.products.search_judged import JUDGED_CATALOG_SIZE
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

__all__ = [  # fixtures
    "engine_index",
    "engine_search",
    "opensearch_url",
    "search",
    "search_catalog",
    "search_tokens",
]

API = "/api/v1"
SIZE_COLOR = [
    {"name": "Size", "values": ["S", "M", "L"]},
    {"name": "Color", "values": ["Red", "Blue"]},
]


def _variant(sku: str, price: int = 1000, stock: int = 5, **options: str) -> dict[str, Any]:
    return {"sku": sku, "options": options, "price": price, "initial_stock": stock}


async def _create(search: SearchFixture, body: dict[str, Any]) -> dict[str, Any]:
    response = await search.client.post(
        f"{API}/products", json={"status": "active", **body}, headers=search.admin
    )
    assert response.status_code == 201, response.text
    await search.catalog.invalidate()  # an engine's index syncs before the next read
    created: dict[str, Any] = response.json()
    return created


async def _hoodie_tee_mug(search: SearchFixture) -> dict[str, dict[str, Any]]:
    """Hoodie: M/Red and L/Blue. Tee: M/Blue and S/Blue. Mug: no options."""
    hoodie = await _create(
        search,
        {
            "sku": "HOOD",
            "name": "Hoodie",
            "options": SIZE_COLOR,
            "variants": [
                _variant("HOOD-M-RED", 4200, Size="M", Color="Red"),
                _variant("HOOD-L-BLUE", 4500, Size="L", Color="Blue"),
            ],
        },
    )
    tee = await _create(
        search,
        {
            "sku": "TEE",
            "name": "Tee",
            "options": SIZE_COLOR,
            "variants": [
                _variant("TEE-M-BLUE", 1500, Size="M", Color="Blue"),
                _variant("TEE-S-BLUE", 1500, Size="S", Color="Blue"),
            ],
        },
    )
    mug = await _create(search, {"sku": "MUG", "name": "Mug", "price": 900})
    return {"hoodie": hoodie, "tee": tee, "mug": mug}


async def _names(search: SearchFixture, *params: tuple[str, Any]) -> list[str]:
    """The listing's names, sorted, for query parameters that may repeat."""
    page = await _page(search, *params)
    return sorted(item["name"] for item in page["items"])


async def _page(search: SearchFixture, *params: tuple[str, Any]) -> dict[str, Any]:
    if search.before_read is not None:
        await search.before_read()
    response = await search.client.get(LISTING, params=list(params))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _variant_id(product: dict[str, Any], sku: str) -> str:
    return next(str(v["id"]) for v in product["variants"] if v["sku"] == sku)


@every_backend
async def test_one_variant_must_have_every_value_asked(search: SearchFixture) -> None:
    made = await _hoodie_tee_mug(search)

    assert await _names(search, ("option.Size", "M")) == ["Hoodie", "Tee"]
    assert await _names(search, ("option.Size", "M"), ("option.Color", "Red")) == ["Hoodie"]
    # The hoodie has an L and a red one, but no red L: not a match.
    assert await _names(search, ("option.Size", "L"), ("option.Color", "Red")) == []
    # Values of one option are or-ed, options and-ed.
    both_sizes = [("option.Size", "S"), ("option.Size", "L"), ("option.Color", "Blue")]
    assert await _names(search, *both_sizes) == ["Hoodie", "Tee"]
    # Names and values as declared: case matters, and an unknown one finds nothing.
    assert await _names(search, ("option.size", "M")) == []
    assert await _names(search, ("option.Size", "m")) == []
    assert await _names(search, ("option.Material", "Wool")) == []
    # With words, a category, a sort: the filter composes.
    assert await _names(search, ("q", "hoodie"), ("option.Color", "Blue")) == ["Hoodie"]
    assert await _names(search, ("q", "tee"), ("option.Color", "Red")) == []

    # An archived variant no longer counts.
    hoodie = made["hoodie"]
    archived = await search.client.delete(
        f"{API}/products/{hoodie['id']}/variants/{_variant_id(hoodie, 'HOOD-M-RED')}",
        headers=search.admin,
    )
    assert archived.status_code == 204, archived.text
    await search.catalog.invalidate()
    assert await _names(search, ("option.Color", "Red")) == []
    assert await _names(search, ("option.Size", "M")) == ["Tee"]


@every_backend
async def test_option_facets_count_what_choosing_a_value_would_find(
    search: SearchFixture,
) -> None:
    await _hoodie_tee_mug(search)

    everything = await _page(search)
    assert everything["facets"]["options"] == {
        "Color": [{"value": "Blue", "count": 2}, {"value": "Red", "count": 1}],
        "Size": [
            {"value": "M", "count": 2},
            {"value": "L", "count": 1},
            {"value": "S", "count": 1},
        ],
    }

    # With Size=M: the sizes are counted without their own filter (the other sizes stay
    # on offer), the colours with it (only the M variants' colours).
    sized = await _page(search, ("option.Size", "M"))
    assert sized["total"] == 2
    assert sized["facets"]["options"] == {
        "Color": [{"value": "Blue", "count": 1}, {"value": "Red", "count": 1}],
        "Size": [
            {"value": "M", "count": 2},
            {"value": "L", "count": 1},
            {"value": "S", "count": 1},
        ],
    }
    # Each count is the total of choosing it.
    for name, values in sized["facets"]["options"].items():
        for facet in values:
            params = [("option.Size", "M")] if name != "Size" else []
            chosen = await _page(search, *params, (f"option.{name}", facet["value"]))
            assert chosen["total"] == facet["count"], (name, facet)

    # Text and stock filters apply to the facets too.
    red_hoodie = await _page(search, ("q", "hoodie"), ("option.Color", "Red"))
    assert red_hoodie["facets"]["options"] == {
        "Color": [{"value": "Blue", "count": 1}, {"value": "Red", "count": 1}],
        "Size": [{"value": "M", "count": 1}],
    }
    nothing = await _page(search, ("q", "mug"))
    assert nothing["facets"]["options"] == {}


@every_backend
async def test_prices_and_stock_are_those_of_one_active_variant(search: SearchFixture) -> None:
    """A cheap small size that is sold out, a dear large one in stock."""
    jacket = await _create(
        search,
        {
            "sku": "JKT",
            "name": "Jacket",
            "options": [{"name": "Size", "values": ["S", "L"]}],
            "variants": [
                _variant("JKT-S", 1000, stock=0, Size="S"),
                _variant("JKT-L", 5000, stock=3, Size="L"),
            ],
        },
    )
    await _create(search, {"sku": "CAP", "name": "Cap", "price": 3000, "initial_stock": 1})

    assert jacket["price"] == 1000  # the lowest active variant price
    assert await _names(search, ("min_price", 4000)) == ["Jacket"]  # its L
    assert await _names(search, ("max_price", 2000)) == ["Jacket"]  # its S
    assert await _names(search, ("min_price", 2000), ("max_price", 4000)) == ["Cap"]
    assert await _names(search, ("in_stock", "true")) == ["Cap", "Jacket"]
    # The same variant: the S is cheap but sold out, the L in stock but dear.
    assert await _names(search, ("in_stock", "true"), ("max_price", 2000)) == []
    assert await _names(search, ("in_stock", "true"), ("option.Size", "S")) == []
    assert await _names(search, ("in_stock", "true"), ("option.Size", "L")) == ["Jacket"]
    assert await _names(search, ("in_stock", "false"), ("option.Size", "S")) == ["Jacket"]
    assert await _names(search, ("in_stock", "false"), ("option.Size", "L")) == []
    assert await _names(search, ("in_stock", "false")) == []
    in_stock = await _page(search, ("in_stock", "true"))
    assert in_stock["facets"]["options"] == {"Size": [{"value": "L", "count": 1}]}
    sold_out = await _page(search, ("in_stock", "false"))
    assert sold_out["facets"]["options"] == {"Size": [{"value": "S", "count": 1}]}
    # Sorted by the lowest active variant price.
    by_price = await _page(search, ("sort", "price_asc"))
    assert [item["name"] for item in by_price["items"]] == ["Jacket", "Cap"]


@every_backend
async def test_an_archived_variant_neither_stocks_nor_prices_its_product(
    search: SearchFixture,
) -> None:
    lamp = await _create(
        search,
        {
            "sku": "LAMP",
            "name": "Lamp",
            "options": [{"name": "Finish", "values": ["Brass", "Steel"]}],
            "variants": [
                _variant("LX-7731", 9000, stock=4, Finish="Brass"),
                _variant("LX-7732", 6000, stock=0, Finish="Steel"),
            ],
        },
    )
    assert await _names(search, ("in_stock", "true")) == ["Lamp"]
    assert await _names(search, ("min_price", 8000)) == ["Lamp"]
    assert await _names(search, ("q", "LX-7731")) == ["Lamp"]

    brass = _variant_id(lamp, "LX-7731")
    archived = await search.client.delete(
        f"{API}/products/{lamp['id']}/variants/{brass}", headers=search.admin
    )
    assert archived.status_code == 204, archived.text
    await search.catalog.invalidate()

    # Its four units are still on the shelf (inventory), but not for sale.
    assert await _names(search, ("in_stock", "true")) == []
    assert await _names(search, ("in_stock", "false")) == ["Lamp"]
    assert await _names(search, ("min_price", 8000)) == []
    assert await _names(search, ("option.Finish", "Brass")) == []
    assert await _names(search, ("q", "LX-7731")) == []
    [item] = (await _page(search))["items"]
    assert (item["price"], item["available"]) == (6000, 0)


@every_backend
async def test_a_variant_sku_finds_its_product(search: SearchFixture) -> None:
    await _hoodie_tee_mug(search)
    assert await _names(search, ("q", "HOOD-L-BLUE")) == ["Hoodie"]
    assert await _names(search, ("q", "hood-l-blue")) == ["Hoodie"]
    assert await _names(search, ("q", "TEE-S-BLUE")) == ["Tee"]
    assert await _names(search, ("q", "MUG")) == ["Mug"]  # a default variant's, as before
    page = await _page(search, ("q", "TEE-S-BLUE"), ("option.Size", "S"))
    assert [item["name"] for item in page["items"]] == ["Tee"]


@every_backend
async def test_a_cursor_walk_of_an_option_filter_sees_each_match_once(
    search: SearchFixture,
) -> None:
    sizes = ["S", "M", "L"]
    await search.catalog.products(
        *(
            {
                "name": f"Sock {i}",
                "variants": [
                    {"sku": f"SOCK-{i}-{size}", "options": {"Size": size}, "price": 100 * (i % 4)}
                    for size in sizes[: 1 + i % 3]
                ],
            }
            for i in range(12)
        )
    )
    with_m = {f"Sock {i}" for i in range(12) if i % 3 >= 1}
    for params in (
        {"option.Size": "M", "sort": "price_asc"},
        {"option.Size": "M", "sort": "name"},
        {"option.Size": "M", "q": "sock"},
    ):
        walked = await search.walk(limit=3, **params)
        assert sorted(item["name"] for item in walked) == sorted(with_m), params


@every_backend
async def test_hostile_option_parameters_find_nothing_and_never_fail(search: SearchFixture) -> None:
    await _hoodie_tee_mug(search)
    hostile = ['"} OR 1=1 --', "'; DROP TABLE products; --", "\\", '["Size","M"]', ".*", "%", "🎧"]
    for text in hostile:
        for params in ([(f"option.{text}", "M")], [("option.Size", text)]):
            page = await _page(search, *params)
            assert (page["total"], page["items"]) == (0, []), params
    # The facets of those not asked still come (nothing asked matched, so none here).
    page = await _page(search, ("option.Size", ".*"))
    assert page["facets"]["options"] == {"Size": [{"value": "M", "count": 2},
        {"value": "L", "count": 1}, {"value": "S", "count": 1}]}  # fmt: skip


async def test_option_parameters_out_of_bounds_are_422_naming_them(
    search: SearchFixture,
) -> None:
    too_many_values = [("option.Size", f"v{i}") for i in range(101)]
    too_many_names = [(f"option.N{i}", "x") for i in range(4)]
    cases: list[tuple[list[tuple[str, str]], str]] = [
        ([("option.Size", "x" * 101)], "option.Size"),
        ([("option.Size", "")], "option.Size"),
        ([("option." + "n" * 51, "M")], "option." + "n" * 51),
        ([("option.", "M")], "option."),
        ([("option.Size", "M\x00")], "option.Size"),
        ([("option.Si\x01ze", "M")], "option.Si\x01ze"),
        (too_many_values, "option.Size"),
        (too_many_names, "option.N3"),
    ]
    for params, field in cases:
        response = await search.client.get(LISTING, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in response.json()["errors"]] == [field]
    # At the bounds: fine. A parameter called "options" is ignored like any unknown one.
    at_bounds = [("option.Size", f"v{i}") for i in range(100)]
    at_bounds += [("option.Color", "x" * 100), ("option." + "n" * 50, "M"), ("options", "x")]
    response = await search.client.get(LISTING, params=at_bounds)
    assert response.status_code == 200, response.text


async def test_a_variant_write_shows_in_the_next_listing(search: SearchFixture) -> None:
    """PostgreSQL reads the variants as they are: a variant added, repriced, archived
    or restocked shows in the next listing (the cache is invalidated by the write)."""
    made = await _hoodie_tee_mug(search)
    tee = made["tee"]
    assert await _names(search, ("option.Color", "Red")) == ["Hoodie"]

    added = await search.client.post(
        f"{API}/products/{tee['id']}/variants",
        json=_variant("TEE-L-RED", 2500, stock=0, Size="L", Color="Red"),
        headers=search.admin,
    )
    assert added.status_code == 201, added.text
    assert await _names(search, ("option.Color", "Red")) == ["Hoodie", "Tee"]
    assert await _names(search, ("option.Color", "Red"), ("in_stock", "true")) == ["Hoodie"]
    assert await _names(search, ("q", "TEE-L-RED")) == ["Tee"]

    restocked = await search.client.post(
        f"{API}/products/{tee['id']}/inventory/adjustments",
        json={"variant_id": added.json()["id"], "delta": 2, "reason": "delivery"},
        headers=search.admin,
    )
    assert restocked.status_code == 200, restocked.text
    # A cached page may lag a stock change by 2 s (docs/search.md): another query.
    restocked_red = [("option.Color", "Red"), ("in_stock", "true"), ("sort", "name")]
    assert await _names(search, *restocked_red) == ["Hoodie", "Tee"]

    repriced = await search.client.patch(
        f"{API}/products/{tee['id']}/variants/{added.json()['id']}",
        json={"price": 9900},
        headers=search.admin,
    )
    assert repriced.status_code == 200, repriced.text
    assert await _names(search, ("min_price", 9000)) == ["Tee"]

    gone = await search.client.delete(
        f"{API}/products/{tee['id']}/variants/{added.json()['id']}", headers=search.admin
    )
    assert gone.status_code == 204, gone.text
    assert await _names(search, ("option.Color", "Red")) == ["Hoodie"]
    assert await _names(search, ("min_price", 9000)) == []


async def test_variant_writes_reach_the_engine_through_the_outbox(
    engine_search: SearchFixture, engine_index: EngineIndex
) -> None:
    """A variant added, repriced, restocked or archived re-indexes its product (the
    outbox's product.changed), so the engine's filters follow."""
    search = engine_search
    await _reindexed(engine_index, search.catalog)
    tee = await _create(
        search,
        {
            "sku": "TEE",
            "name": "Tee",
            "options": SIZE_COLOR,
            "variants": [_variant("TEE-M-BLUE", 1500, Size="M", Color="Blue")],
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
        json=_variant("TEE-L-RED", 2500, stock=0, Size="L", Color="Red"),
        headers=search.admin,
    )
    assert added.status_code == 201, added.text
    red = added.json()["id"]
    await finds(("option.Color", "Red"), ("option.Size", "L"), expected=["Tee"])
    await finds(("q", "TEE-L-RED"), expected=["Tee"])
    await finds(("option.Color", "Red"), ("in_stock", "true"), expected=[])

    restocked = await search.client.post(
        f"{API}/products/{tee['id']}/inventory/adjustments",
        json={"variant_id": red, "delta": 2, "reason": "delivery"},
        headers=search.admin,
    )
    assert restocked.status_code == 200, restocked.text
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
    await finds(("q", "TEE-L-RED"), expected=[])


async def load_demo_catalog_with_variants(catalog: Catalog) -> None:
    """The judged set's demo catalog with its options and variants, as `shop seed-demo`
    makes them."""
    demo = demo_catalog(JUDGED_CATALOG_SIZE)
    for category in demo.categories:  # parents first
        await catalog.category(category.name, category.slug, parent=category.parent_slug)
    await catalog.products(
        *(
            {
                "sku": product.sku,
                "slug": product.slug,
                "name": product.name,
                "description": product.description,
                "price": product.price,
                "category": product.category_slug,
                "status": product.status,
                "on_hand": product.initial_stock,
                "variants": [
                    {
                        "sku": variant.sku,
                        "options": dict(variant.options),
                        "price": variant.price,
                        "on_hand": variant.initial_stock,
                    }
                    for variant in product.variants
                ],
            }
            for product in demo.products
        )
    )


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
