"""GET /api/v1/products with the PostgreSQL backend, through the real products app.

The tests marked ``every_backend`` run on the search engines too (search_engines.py):
what a client sees must not depend on the backend. The others are PostgreSQL's own
(its ranking, its collation, its triggers).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.products.models import Product, ProductStatus
from tests.products.search_engines import every_backend
from tests.products.search_node import opensearch_url
from tests.products.search_support import (
    LISTING,
    Catalog,
    SearchFixture,
    at,
    search,
    search_catalog,
    search_tokens,
)

__all__ = ["opensearch_url", "search", "search_catalog", "search_tokens"]  # fixtures


async def _electronics(catalog: Catalog) -> None:
    """electronics > audio > headphones; electronics > cameras; kitchen."""
    await catalog.category("Electronics", "electronics")
    await catalog.category("Audio", "audio", parent="electronics")
    await catalog.category("Headphones", "headphones", parent="audio")
    await catalog.category("Cameras", "cameras", parent="electronics")
    await catalog.category("Kitchen", "kitchen")


@every_backend
async def test_misspelt_words_still_find_the_product(search: SearchFixture) -> None:
    await search.catalog.products(
        {"name": "Wireless Headphones", "sku": "WH-1000"},
        {"name": "Wired Earbuds"},
        {"name": "Garden Hose"},
    )
    assert await search.names(q="wireles headphnes") == ["Wireless Headphones"]
    assert await search.names(q="headphnes") == ["Wireless Headphones"]
    assert await search.names(q="Wireless Headphones") == ["Wireless Headphones"]


@every_backend
async def test_accents_do_not_matter_either_way(search: SearchFixture) -> None:
    await search.catalog.products({"name": "Café Grinder"}, {"name": "Creme Brulee Torch"})
    assert await search.names(q="cafe") == ["Café Grinder"]
    assert await search.names(q="CAFÉ grinder") == ["Café Grinder"]
    assert await search.names(q="crème brûlée") == ["Creme Brulee Torch"]


@every_backend
async def test_stemming_prefixes_and_stop_words(search: SearchFixture) -> None:
    await search.catalog.products({"name": "Running Shoes"}, {"name": "Kettle"})
    assert await search.names(q="run shoe") == ["Running Shoes"]
    assert await search.names(q="runn") == ["Running Shoes"]  # as one types
    assert await search.names(q="the shoes for running") == ["Running Shoes"]


@every_backend
async def test_sku_description_and_category_are_searched_too(search: SearchFixture) -> None:
    await _electronics(search.catalog)
    await search.catalog.products(
        {"name": "Studio Monitor", "sku": "SM-42X", "category": "audio"},
        {"name": "Travel Mug", "sku": "TM-1", "description": "Keeps espresso hot for hours"},
        {"name": "Plain Thing", "sku": "PT-1"},
    )
    assert await search.names(q="SM-42X") == ["Studio Monitor"]
    assert await search.names(q="sm-42x") == ["Studio Monitor"]
    assert await search.names(q="espresso") == ["Travel Mug"]
    assert await search.names(q="audio") == ["Studio Monitor"]


@every_backend
async def test_name_outranks_category_outranks_description(search: SearchFixture) -> None:
    await search.catalog.category("Lamps", "lamps")
    await search.catalog.products(
        {"name": "Desk Organizer", "description": "Fits beside any lamp"},
        {"name": "Bulb Pack", "category": "lamps"},
        {"name": "Reading Lamp"},
    )
    assert await search.names(q="lamp") == ["Reading Lamp", "Bulb Pack", "Desk Organizer"]


@every_backend
async def test_exact_matches_come_before_typo_matches(search: SearchFixture) -> None:
    await search.catalog.products({"name": "Wired Speaker"}, {"name": "Wireless Speaker"})
    names = await search.names(q="wireles speaker")
    assert names[0] == "Wireless Speaker"
    names = await search.names(q="wireless speaker")
    assert names == ["Wireless Speaker"]


@every_backend
async def test_category_filter_takes_the_whole_subtree(search: SearchFixture) -> None:
    await _electronics(search.catalog)
    await search.catalog.products(
        {"name": "Over-ear", "category": "headphones"},
        {"name": "Amplifier", "category": "audio"},
        {"name": "Mirrorless", "category": "cameras"},
        {"name": "Toaster", "category": "kitchen"},
        {"name": "Uncategorized"},
    )
    assert sorted(await search.names(category="electronics")) == [
        "Amplifier",
        "Mirrorless",
        "Over-ear",
    ]
    assert sorted(await search.names(category="audio")) == ["Amplifier", "Over-ear"]
    assert await search.names(category="headphones") == ["Over-ear"]
    page = await search.list(category="no-such-category")
    assert (page["items"], page["total"]) == ([], 0)


@every_backend
async def test_facets_count_subtrees_and_ignore_the_category_filter(search: SearchFixture) -> None:
    await _electronics(search.catalog)
    await search.catalog.products(
        {"name": "Pro Headphones", "category": "headphones"},
        {"name": "Pro Amplifier", "category": "audio"},
        {"name": "Pro Camera", "category": "cameras"},
        {"name": "Pro Blender", "category": "kitchen"},
        {"name": "Pro Nothing"},
        {"name": "Basic Toaster", "category": "kitchen"},
        {"name": "Pro Draft", "category": "kitchen", "status": ProductStatus.DRAFT},
    )
    expected = [
        {"slug": "electronics", "count": 3},
        {"slug": "audio", "count": 2},
        {"slug": "cameras", "count": 1},
        {"slug": "headphones", "count": 1},
        {"slug": "kitchen", "count": 1},
    ]
    everything = await search.list(q="pro")
    assert everything["total"] == 5
    assert everything["facets"] == {"categories": expected, "options": {}}

    narrowed = await search.list(q="pro", category="audio")
    assert narrowed["total"] == 2
    assert sorted(item["name"] for item in narrowed["items"]) == ["Pro Amplifier", "Pro Headphones"]
    assert narrowed["facets"] == {
        "categories": expected,
        "options": {},
    }  # the other categories stay on offer

    listing = await search.list(category="kitchen")
    assert listing["total"] == 2
    assert {"slug": "kitchen", "count": 2} in listing["facets"]["categories"]


@every_backend
async def test_price_range_and_stock_filters(search: SearchFixture) -> None:
    await search.catalog.products(
        {"name": "Cheap", "price": 500},
        {"name": "Middle", "price": 1500, "on_hand": 0},
        {"name": "Dear", "price": 2500, "on_hand": 3, "reserved": 3},
        {"name": "Dearer", "price": 3500, "on_hand": 4, "reserved": 1},
    )
    assert await search.names(min_price=1500, max_price=2500, sort="price_asc") == [
        "Middle",
        "Dear",
    ]
    assert await search.names(min_price=3000) == ["Dearer"]
    assert await search.names(max_price=499) == []
    assert await search.names(in_stock="true", sort="price_asc") == ["Cheap", "Dearer"]
    assert await search.names(in_stock="false", sort="price_asc") == ["Middle", "Dear"]
    [dearer] = (await search.list(min_price=3000))["items"]
    assert dearer["available"] == 3


@every_backend
async def test_each_sort_order(search: SearchFixture) -> None:
    await search.catalog.products(
        {"name": "Banana Stand", "price": 300, "created_at": at("2026-01-02T00:00:00+00:00")},
        {"name": "Apple Press", "price": 200, "created_at": at("2026-01-03T00:00:00+00:00")},
        {"name": "Cherry Pitter", "price": 100, "created_at": at("2026-01-01T00:00:00+00:00")},
    )
    newest = ["Apple Press", "Banana Stand", "Cherry Pitter"]
    assert await search.names() == newest
    assert await search.names(sort="newest") == newest
    assert await search.names(sort="price_asc") == ["Cherry Pitter", "Apple Press", "Banana Stand"]
    assert await search.names(sort="price_desc") == ["Banana Stand", "Apple Press", "Cherry Pitter"]
    assert await search.names(sort="name") == ["Apple Press", "Banana Stand", "Cherry Pitter"]
    # Relevance without words to rank means newest.
    assert await search.names(sort="relevance") == newest
    # With words, any order may be asked for.
    # No product has both words: the best partial matches, in the order asked for.
    assert await search.names(q="stand press", sort="price_asc") == ["Apple Press", "Banana Stand"]
    assert await search.names(q="pitter", sort="name") == ["Cherry Pitter"]


async def test_name_order_is_the_databases(search: SearchFixture) -> None:
    names = ["Zebra Mat", "alpha Rug", "Éclair Tin", "beta Lamp", "Alpha Rug"]
    await search.catalog.products(*({"name": n} for n in names))
    async with search.catalog.sessionmaker() as session:
        expected = list(await session.scalars(select(Product.name).order_by(Product.name)))
    assert await search.names(sort="name") == expected
    assert [item["name"] for item in await search.walk(sort="name", limit=2)] == expected


@every_backend
async def test_drafts_and_archived_are_for_admins_only(search: SearchFixture) -> None:
    await search.catalog.products(
        {"name": "Shown Lamp"},
        {"name": "Draft Lamp", "status": ProductStatus.DRAFT},
        {"name": "Archived Lamp", "status": ProductStatus.ARCHIVED},
    )
    assert await search.names() == ["Shown Lamp"]
    assert await search.names(search.admin) == ["Shown Lamp"]  # active unless asked
    assert await search.names(search.customer, q="lamp") == ["Shown Lamp"]
    assert await search.names(search.admin, status="draft") == ["Draft Lamp"]
    assert await search.names(search.admin, status="archived", q="lamp") == ["Archived Lamp"]
    assert await search.names(status="active") == ["Shown Lamp"]

    anonymous = await search.client.get(LISTING, params={"status": "draft"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    customer = await search.client.get(
        LISTING, params={"status": "archived"}, headers=search.customer
    )
    assert customer.status_code == 403
    assert customer.headers["content-type"] == "application/problem+json"


@every_backend
async def test_items_are_full_product_views(search: SearchFixture) -> None:
    await search.catalog.category("Kitchen", "kitchen")
    product = await search.catalog.product(
        name="Kettle", sku="KT-1", price=2999, category="kitchen", on_hand=7, reserved=2
    )
    page = await search.list()
    assert page["next_cursor"] is None
    [item] = page["items"]
    assert item["id"] == str(product.id)
    assert item["sku"] == "KT-1"
    assert item["price"] == 2999
    assert item["currency"] == "USD"
    assert item["available"] == 5
    assert item["category_id"] == str(search.catalog.categories["kitchen"].id)
    assert item["images"] == []
    assert {"slug", "description", "attributes", "status", "version", "created_at"} <= item.keys()


async def test_search_vector_follows_product_and_category_changes(search: SearchFixture) -> None:
    await search.catalog.category("Outdoor", "outdoor")
    product = await search.catalog.product(name="Folding Chair", category="outdoor")
    assert await search.names(q="outdoor") == ["Folding Chair"]

    await search.catalog.execute(
        "UPDATE categories SET name = 'Patio' WHERE slug = 'outdoor'",
    )
    assert await search.names(q="outdoor") == []
    assert await search.names(q="patio") == ["Folding Chair"]

    await search.catalog.execute(
        "UPDATE products SET name = 'Camping Stool', price = 5 WHERE id = :id", id=product.id
    )
    assert await search.names(q="chair") == []
    assert await search.names(q="stool") == ["Camping Stool"]


HOSTILE = [
    "' OR 1=1 --",
    "'; DROP TABLE products; --",
    '"; SELECT pg_sleep(10); --',
    "%",
    "%%%",
    "_",
    "__%__",
    "\\",
    "\\\\' \\x00",
    "nul\x00byte",
    "a & b | !c <-> d:* (e)",
    "wireless:* & !",
    "'''",
    "$1 $$ $tag$",
    "½ ⑴ \u02bc \u02c6 \u02d0 \u0149",
    "🎧 headphones 🎧",
    "漢字 カタカナ 한국어 العربية עברית",
    "\u202e\u200b\ufeff",
    "a" * 200,
    "word " * 40,
    "x" * 5000,
    "<script>alert(1)</script>",
    "{{7*7}} ${7*7}",
    "\r\n\t",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_search_strings_never_fail(search: SearchFixture, text: str) -> None:
    await search.catalog.products({"name": "Wireless Headphones"})
    for params in ({"q": text}, {"q": text, "sort": "name"}, {"q": text, "category": "x"}):
        response = await search.client.get(LISTING, params=params)
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            names = {item["name"] for item in response.json()["items"]}
            assert names <= {"Wireless Headphones"}


async def test_hostile_parameters_are_refused_not_failed(search: SearchFixture) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"min_price": "-1"},
        {"min_price": "1e400"},
        {"max_price": "99999999999999999999999"},
        {"min_price": "10", "max_price": "5"},
        {"in_stock": "maybe"},
        {"sort": "price; DROP TABLE products"},
        {"category": "'; DROP TABLE products; --"},
        {"category": "x" * 5000},
        {"status": "deleted"},
        {"q": "x" * 201},
    ):
        response = await search.client.get(LISTING, params=params)
        assert response.status_code == 422, (params, response.text)
        body = response.json()
        assert body["errors"], body
    for cursor in ("garbage", "x" * 600, "eyJhIjoxfQ", "W10", "WyJuYW1lIl0"):
        response = await search.client.get(LISTING, params={"cursor": cursor})
        assert response.status_code in (400, 422), response.text
    response = await search.client.get(LISTING, params={"cursor": "garbage"})
    assert response.status_code == 400
    assert response.json()["type"].endswith("invalid-cursor")


@every_backend
async def test_a_cursor_of_another_sort_order_is_a_400(search: SearchFixture) -> None:
    await search.catalog.products(*({"name": f"Item {i}"} for i in range(3)))
    page = await search.list(limit=1, sort="price_asc")
    response = await search.client.get(
        LISTING, params={"limit": 1, "sort": "name", "cursor": page["next_cursor"]}
    )
    assert response.status_code == 400


async def test_every_status_is_declared_in_openapi(search: SearchFixture) -> None:
    document = (await search.client.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/products"]["get"]
    assert {"200", "400", "401", "403", "422", "503"} <= operation["responses"].keys()
    parameters = {p["name"] for p in operation["parameters"]}
    assert {"q", "category", "min_price", "max_price", "in_stock", "sort", "limit", "cursor"} <= (
        parameters
    )
    assert "status" in parameters
