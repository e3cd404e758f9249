"""The in-process index answers as the PostgreSQL backend does, through the API: the
same products, totals and facets, and for the sorts by age, price and name the same
order
(a price filter that keeps everything sends the same search to PostgreSQL)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from shop.products.search import ProductQuery
from tests.products.search_support import SearchFixture, search, search_catalog, search_tokens
from tests.products.test_search_pagination import _catalog

__all__ = ["search", "search_catalog", "search_tokens"]  # fixtures

pytestmark = pytest.mark.parametrize("search", ["indexed"], indirect=True)

QUERIES = [
    {"q": "gadget"},
    {"q": "gadgte blue"},
    {"q": "blue red"},
    {"q": "gadg"},
    {"q": "a-0007"},
    {"q": "gadget", "sort": "newest"},
    {"q": "gadget", "sort": "price_asc"},
    {"q": "green gadget", "sort": "price_desc"},
    {"q": "gadget", "sort": "name"},
    {"q": "gadget", "category": "blue-things"},
]


def _summary(page: dict[str, Any]) -> dict[str, Any]:
    return {"total": page["total"], "facets": page["facets"]}


async def test_the_test_database_orders_names_by_code_point(search: SearchFixture) -> None:
    # Else the name sort below would be PostgreSQL's on both sides, and prove nothing.
    assert search.app.state.search.keeper.index.names_in_code_point_order


@pytest.mark.parametrize("params", QUERIES, ids=lambda p: "-".join(map(str, p.values())))
async def test_the_index_and_postgresql_agree(
    search: SearchFixture, params: dict[str, Any]
) -> None:
    await search.catalog.category("Blue things", "blue-things")
    rng = random.Random(11)  # noqa: S311 (test data)
    specs = _catalog(rng, 120, "A")
    for spec in specs[::3]:
        spec["category"] = "blue-things"
    await search.catalog.products(*specs)

    by_index = await search.walk(**params, limit=9)
    # min_price=0 keeps every product and is not the index's: PostgreSQL answers.
    by_postgres = await search.walk(**params, min_price=0, limit=9)
    assert by_index, params
    if params.get("sort") in ("newest", "price_asc", "price_desc", "name"):
        assert [item["id"] for item in by_index] == [item["id"] for item in by_postgres]
    else:  # relevance: the same products; ties of rules 1-3 broken otherwise
        assert sorted(item["id"] for item in by_index) == sorted(item["id"] for item in by_postgres)
    first = await search.list(**params, limit=9)
    assert _summary(first) == _summary(await search.list(**params, min_price=0, limit=9))


@pytest.mark.parametrize(
    ("params", "transaction"),
    [
        ({"q": "gadget"}, False),  # the index answers: statements of their own
        ({"q": "gadget", "option.Size": "M"}, True),  # may go to PostgreSQL: its plans
        ({"q": "gadget", "min_price": 0}, True),  # PostgreSQL's
    ],
)
async def test_only_what_the_index_answers_alone_runs_without_a_transaction(
    search: SearchFixture, params: dict[str, Any], transaction: bool
) -> None:
    await search.catalog.products(*_catalog(random.Random(3), 5, "B"))  # noqa: S311
    backend = search.app.state.search
    await backend.keeper.load()
    async with search.app.state.sessionmaker() as session:
        await backend.search(session, ProductQuery.model_validate(params))
        raw = await (await session.connection()).get_raw_connection()
        assert raw.driver_connection is not None
        # asyncpg's own word: is a transaction open on the server's side?
        assert raw.driver_connection.is_in_transaction() is transaction
