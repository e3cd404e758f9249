"""The product views kept beside the in-process index (shop.products.search.mem_views):
a page the index answers shows each product as ``GET /products/{id}`` does, after every
kind of write, and a view read before a write is never kept under the new version."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from typing import Any

import pytest

from shop.products.reads import with_items
from shop.products.schemas import CategoryCount, Facets, ProductOut, ProductSearchOut
from shop.products.search.mem_backend import IndexedSearch
from shop.products.search.mem_views import KeptViews
from tests.products.images_support import png_with_metadata
from tests.products.search_support import (
    LISTING,
    SearchFixture,
    search,
    search_catalog,
    search_tokens,
)
from tests.products.variant_support import API, SIZE_COLOR, create, restock, variant

__all__ = ["search", "search_catalog", "search_tokens"]  # fixtures


class Shown:
    """The one product a search finds, as the listing shows it and as it reads alone.
    Each listing asks another page size: never the read cache's answer, always the
    index's and its kept views'."""

    def __init__(self, search: SearchFixture, product_id: str, q: str) -> None:
        self.search, self.product_id, self.q = search, product_id, q
        self._limits = itertools.cycle(range(100, 1, -1))

    async def listed(self) -> dict[str, Any]:
        response = await self.search.client.get(
            LISTING, params={"q": self.q, "limit": next(self._limits)}
        )
        assert response.status_code == 200, response.text
        [item] = response.json()["items"]
        assert isinstance(item, dict)
        return item

    async def alone(self) -> dict[str, Any]:
        response = await self.search.client.get(f"{API}/products/{self.product_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def agree(self) -> None:
        assert await self.listed() == await self.alone()


@pytest.mark.parametrize("search", ["indexed"], indirect=True)
async def test_a_kept_view_follows_every_kind_of_write(search: SearchFixture) -> None:
    backend = search.app.state.search
    assert isinstance(backend, IndexedSearch)
    lamp = await create(
        search,
        {
            "sku": "LAMP",
            "name": "Brass lamp",
            "options": SIZE_COLOR,
            "variants": [variant("LAMP-S-RED", 3000, 2, Size="S", Color="Red")],
        },
    )
    shown = Shown(search, lamp["id"], "lamp")
    await shown.agree()
    assert backend.keeper.views.get(uuid.UUID(lamp["id"])) is not None
    before = await shown.listed()

    renamed = await search.client.patch(
        f"{API}/products/{lamp['id']}", json={"description": "Warm light"}, headers=search.admin
    )
    assert renamed.status_code == 200, renamed.text
    await shown.agree()
    assert (await shown.listed())["description"] == "Warm light"

    [small] = lamp["variants"]
    repriced = await search.client.patch(
        f"{API}/products/{lamp['id']}/variants/{small['id']}",
        json={"price": 2500},
        headers=search.admin,
    )
    assert repriced.status_code == 200, repriced.text
    await shown.agree()
    assert (await shown.listed())["price"] == 2500

    added = await search.client.post(
        f"{API}/products/{lamp['id']}/variants",
        json=variant("LAMP-M-BLUE", 3500, 1, Size="M", Color="Blue"),
        headers=search.admin,
    )
    assert added.status_code == 201, added.text
    await shown.agree()
    assert len((await shown.listed())["variants"]) == 2

    uploaded = await search.client.post(
        f"{API}/products/{lamp['id']}/images",
        files={"file": ("lamp.png", png_with_metadata(), "image/png")},
        headers=search.admin,
    )
    assert uploaded.status_code == 201, uploaded.text
    await shown.agree()
    assert len((await shown.listed())["images"]) == 1

    # Stock bumps no catalog generation: the index follows it within
    # SEARCH_INDEX_FOLLOW_SECONDS, its kept view with it.
    await restock(search, lamp["id"], small["id"], 5)
    deadline = time.monotonic() + 30
    while (await shown.listed())["available"] != 8:
        assert time.monotonic() < deadline, "the kept view never saw the stock"
        await asyncio.sleep(0.1)
    await shown.agree()
    assert before != await shown.listed()


def test_a_view_read_before_a_write_is_not_kept() -> None:
    versions = {uuid.UUID(int=1): "7:8.9", uuid.UUID(int=2): "3:"}
    views = KeptViews(versions.get, size=2)
    views.keep(uuid.UUID(int=1), "7:8.9", b"{}")
    assert views.get(uuid.UUID(int=1)) == b"{}"
    # Read at a version the index no longer has (or does not have yet), or of a
    # product it does not hold: not kept.
    views.keep(uuid.UUID(int=2), "2:", b"{}")
    views.keep(uuid.UUID(int=3), "1:", b"{}")
    views.keep(uuid.UUID(int=2), None, b"{}")
    assert views.get(uuid.UUID(int=2)) is None
    assert views.get(uuid.UUID(int=3)) is None
    views.forget(uuid.UUID(int=1))
    assert len(views) == 0


def test_no_view_is_kept_when_none_may_be() -> None:
    views = KeptViews({uuid.UUID(int=1): "1:"}.get, size=0)
    views.keep(uuid.UUID(int=1), "1:", b"{}")
    assert views.get(uuid.UUID(int=1)) is None


def test_the_first_kept_view_goes_first_when_full() -> None:
    ids = [uuid.UUID(int=n) for n in range(4)]
    views = KeptViews(dict.fromkeys(ids, "1:").get, size=2)
    for n, product_id in enumerate(ids[:3]):
        views.keep(product_id, "1:", str(n).encode())
    assert [views.get(i) for i in ids] == [None, b"1", b"2", None]


def test_items_serialized_once_read_as_the_whole_listing_does() -> None:
    item = ProductOut.model_validate(
        {
            "id": uuid.uuid4(),
            "sku": "LAMP",
            "slug": "brass-lamp",
            "name": "Brass \u201clamp\u201d",
            "description": "",
            "price": 3000,
            "currency": "EUR",
            "category_id": None,
            "attributes": {"w": 1},
            "status": "active",
            "available": 2,
            "images": [],
            "options": [],
            "variants": [],
            "version": 3,
            "created_at": "2026-12-04T10:00:00Z",
            "updated_at": "2026-12-04T10:00:00Z",
        }
    )
    facets = Facets(categories=[CategoryCount(slug="lamps", count=2)], options={})
    whole = ProductSearchOut(items=[item, item], total=2, next_cursor="abc", facets=facets)
    empty = ProductSearchOut(items=[], total=2, next_cursor="abc", facets=facets)
    items = [item.model_dump_json().encode()] * 2
    assert with_items(empty.model_dump_json().encode(), items) == whole.model_dump_json().encode()
    assert json.loads(with_items(empty.model_dump_json().encode(), [])) == empty.model_dump(
        mode="json"
    )
    with pytest.raises(ValueError, match="without items"):
        with_items(whole.model_dump_json().encode(), items)
