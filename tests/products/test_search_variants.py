"""Search over variants, through the products app: option filters (one variant has
every value asked), option facets, price and stock over active variants, variant SKUs.

The tests marked ``every_backend`` run on PostgreSQL and on the search engines
(search_engines.py), whose index each listing first brings in step with the database.
Products are written through the API, as an admin would.
"""

from __future__ import annotations

from tests.products.search_engines import every_backend
from tests.products.search_node import opensearch_url
from tests.products.search_support import (
    LISTING,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)
from tests.products.variant_support import (
    API,
    create,
    hoodie_tee_mug,
    listing,
    names,
    variant,
    variant_id,
)

__all__ = ["opensearch_url", "search", "search_catalog", "search_tokens"]  # fixtures


@every_backend
async def test_one_variant_must_have_every_value_asked(search: SearchFixture) -> None:
    made = await hoodie_tee_mug(search)

    assert await names(search, ("option.Size", "M")) == ["Hoodie", "Tee"]
    assert await names(search, ("option.Size", "M"), ("option.Color", "Red")) == ["Hoodie"]
    # The hoodie has an L and a red one, but no red L: not a match.
    assert await names(search, ("option.Size", "L"), ("option.Color", "Red")) == []
    # Values of one option are or-ed, options and-ed.
    both_sizes = [("option.Size", "S"), ("option.Size", "L"), ("option.Color", "Blue")]
    assert await names(search, *both_sizes) == ["Hoodie", "Tee"]
    # Names and values as declared: case matters, and an unknown one finds nothing.
    assert await names(search, ("option.size", "M")) == []
    assert await names(search, ("option.Size", "m")) == []
    assert await names(search, ("option.Material", "Wool")) == []
    # With words, a category, a sort: the filter composes.
    assert await names(search, ("q", "hoodie"), ("option.Color", "Blue")) == ["Hoodie"]
    assert await names(search, ("q", "tee"), ("option.Color", "Red")) == []

    # An archived variant no longer counts.
    hoodie = made["hoodie"]
    archived = await search.client.delete(
        f"{API}/products/{hoodie['id']}/variants/{variant_id(hoodie, 'HOOD-M-RED')}",
        headers=search.admin,
    )
    assert archived.status_code == 204, archived.text
    await search.catalog.invalidate()
    assert await names(search, ("option.Color", "Red")) == []
    assert await names(search, ("option.Size", "M")) == ["Tee"]


@every_backend
async def test_option_facets_count_what_choosing_a_value_would_find(
    search: SearchFixture,
) -> None:
    await hoodie_tee_mug(search)

    everything = await listing(search)
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
    sized = await listing(search, ("option.Size", "M"))
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
            chosen = await listing(search, *params, (f"option.{name}", facet["value"]))
            assert chosen["total"] == facet["count"], (name, facet)

    # Text and stock filters apply to the facets too.
    red_hoodie = await listing(search, ("q", "hoodie"), ("option.Color", "Red"))
    assert red_hoodie["facets"]["options"] == {
        "Color": [{"value": "Blue", "count": 1}, {"value": "Red", "count": 1}],
        "Size": [{"value": "M", "count": 1}],
    }
    nothing = await listing(search, ("q", "mug"))
    assert nothing["facets"]["options"] == {}


@every_backend
async def test_prices_and_stock_are_those_of_one_activevariant(search: SearchFixture) -> None:
    """A cheap small size that is sold out, a dear large one in stock."""
    jacket = await create(
        search,
        {
            "sku": "JKT",
            "name": "Jacket",
            "options": [{"name": "Size", "values": ["S", "L"]}],
            "variants": [
                variant("JKT-S", 1000, stock=0, Size="S"),
                variant("JKT-L", 5000, stock=3, Size="L"),
            ],
        },
    )
    await create(search, {"sku": "CAP", "name": "Cap", "price": 3000, "initial_stock": 1})

    assert jacket["price"] == 1000  # the lowest active variant price
    assert await names(search, ("min_price", 4000)) == ["Jacket"]  # its L
    assert await names(search, ("max_price", 2000)) == ["Jacket"]  # its S
    assert await names(search, ("min_price", 2000), ("max_price", 4000)) == ["Cap"]
    assert await names(search, ("in_stock", "true")) == ["Cap", "Jacket"]
    # The same variant: the S is cheap but sold out, the L in stock but dear.
    assert await names(search, ("in_stock", "true"), ("max_price", 2000)) == []
    assert await names(search, ("in_stock", "true"), ("option.Size", "S")) == []
    assert await names(search, ("in_stock", "true"), ("option.Size", "L")) == ["Jacket"]
    assert await names(search, ("in_stock", "false"), ("option.Size", "S")) == ["Jacket"]
    assert await names(search, ("in_stock", "false"), ("option.Size", "L")) == []
    assert await names(search, ("in_stock", "false")) == []
    in_stock = await listing(search, ("in_stock", "true"))
    assert in_stock["facets"]["options"] == {"Size": [{"value": "L", "count": 1}]}
    sold_out = await listing(search, ("in_stock", "false"))
    assert sold_out["facets"]["options"] == {"Size": [{"value": "S", "count": 1}]}
    # Sorted by the lowest active variant price.
    by_price = await listing(search, ("sort", "price_asc"))
    assert [item["name"] for item in by_price["items"]] == ["Jacket", "Cap"]


@every_backend
async def test_an_archived_variant_neither_stocks_nor_prices_its_product(
    search: SearchFixture,
) -> None:
    lamp = await create(
        search,
        {
            "sku": "LAMP",
            "name": "Lamp",
            "options": [{"name": "Finish", "values": ["Brass", "Steel"]}],
            "variants": [
                variant("LX-7731", 9000, stock=4, Finish="Brass"),
                variant("LX-7732", 6000, stock=0, Finish="Steel"),
            ],
        },
    )
    assert await names(search, ("in_stock", "true")) == ["Lamp"]
    assert await names(search, ("min_price", 8000)) == ["Lamp"]
    assert await names(search, ("q", "LX-7731")) == ["Lamp"]

    brass = variant_id(lamp, "LX-7731")
    archived = await search.client.delete(
        f"{API}/products/{lamp['id']}/variants/{brass}", headers=search.admin
    )
    assert archived.status_code == 204, archived.text
    await search.catalog.invalidate()

    # Its four units are still on the shelf (inventory), but not for sale.
    assert await names(search, ("in_stock", "true")) == []
    assert await names(search, ("in_stock", "false")) == ["Lamp"]
    assert await names(search, ("min_price", 8000)) == []
    assert await names(search, ("option.Finish", "Brass")) == []
    assert await names(search, ("q", "LX-7731")) == []
    [item] = (await listing(search))["items"]
    assert (item["price"], item["available"]) == (6000, 0)


@every_backend
async def test_a_variant_sku_finds_its_product(search: SearchFixture) -> None:
    await hoodie_tee_mug(search)
    assert await names(search, ("q", "HOOD-L-BLUE")) == ["Hoodie"]
    assert await names(search, ("q", "hood-l-blue")) == ["Hoodie"]
    assert await names(search, ("q", "TEE-S-BLUE")) == ["Tee"]
    assert await names(search, ("q", "MUG")) == ["Mug"]  # a default variant's, as before
    page = await listing(search, ("q", "TEE-S-BLUE"), ("option.Size", "S"))
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
    await hoodie_tee_mug(search)
    hostile = ['"} OR 1=1 --', "'; DROP TABLE products; --", "\\", '["Size","M"]', ".*", "%", "🎧"]
    for text in hostile:
        for params in ([(f"option.{text}", "M")], [("option.Size", text)]):
            page = await listing(search, *params)
            assert (page["total"], page["items"]) == (0, []), params
    # The facets of those not asked still come (nothing asked matched, so none here).
    page = await listing(search, ("option.Size", ".*"))
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
