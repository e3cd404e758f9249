"""Every row of the Products table, through the gateway, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shop.gateway.app import create_app as create_gateway_app
from shop.gateway.config import GatewaySettings
from shop.products.app import create_app
from tests.products.conftest import Signer, products_settings, truncate
from tests.products.images_support import jpeg_with_exif
from tests.support import Databases, served


@pytest.fixture
async def gateway(
    databases: Databases, signer: Signer, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    try:
        with served(create_app(products_settings(databases, signer, tmp_path))) as products_url:
            settings = GatewaySettings(
                _env_file=None,
                products_urls=[products_url],
                redis_url=signer.redis_url,
                jwks_url=signer.jwks_url,
                log_format="json",
            )
            with served(create_gateway_app(settings)) as url:
                async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=15) as client:
                    yield client
    finally:
        await truncate(databases, signer.redis_url)


async def test_every_products_route_through_the_gateway(
    gateway: httpx.AsyncClient, signer: Signer
) -> None:
    admin = await signer.headers("customer", "admin")
    audio = (await gateway.post("/categories", json={"name": "Audio"}, headers=admin)).json()
    phones = await gateway.post(
        "/categories", json={"name": "Headphones", "parent_id": audio["id"]}, headers=admin
    )
    assert phones.status_code == 201
    renamed = await gateway.patch(
        f"/categories/{phones.json()['id']}", json={"name": "Headphones & Earbuds"}, headers=admin
    )
    assert renamed.json()["name"] == "Headphones & Earbuds"
    spare = (await gateway.post("/categories", json={"name": "Spare"}, headers=admin)).json()
    assert (await gateway.delete(f"/categories/{spare['id']}", headers=admin)).status_code == 204
    assert len((await gateway.get("/categories")).json()["items"]) == 2

    created = await gateway.post(
        "/products",
        json={
            "sku": "WH-1",
            "name": "Wireless Headphones",
            "description": "Noise-cancelling, over-ear.",
            "price": 19999,
            "category_id": phones.json()["id"],
            "status": "active",
            "initial_stock": 5,
        },
        headers=admin,
    )
    assert created.status_code == 201
    product = created.json()

    # Listed under the parent category too, and found despite the typos.
    listing = (await gateway.get("/products", params={"category": "audio"})).json()
    assert [p["sku"] for p in listing["items"]] == ["WH-1"]
    search = (await gateway.get("/products", params={"q": "wireles headphnes"})).json()
    assert [p["sku"] for p in search["items"]] == ["WH-1"]
    assert search["total"] == 1

    read = await gateway.get(f"/products/{product['slug']}")
    assert read.status_code == 200
    patched = await gateway.patch(
        f"/products/{product['id']}",
        json={"price": 17999},
        headers={**admin, "if-match": read.headers["etag"]},
    )
    assert patched.json()["price"] == 17999
    stale = await gateway.patch(
        f"/products/{product['id']}",
        json={"price": 1},
        headers={**admin, "if-match": read.headers["etag"]},
    )
    assert stale.status_code == 412

    inventory = f"/products/{product['id']}/inventory"
    assert (await gateway.get(inventory, headers=admin)).json()["available"] == 5
    adjusted = await gateway.post(
        inventory + "/adjustments", json={"delta": 3, "reason": "delivery"}, headers=admin
    )
    levels = adjusted.json()
    assert (levels["on_hand"], levels["reserved"], levels["available"]) == (8, 0, 8)
    assert [v["available"] for v in levels["variants"]] == [8]

    upload = await gateway.post(
        f"/products/{product['id']}/images",
        files={"file": ("photo.jpg", jpeg_with_exif(), "image/jpeg")},
        headers=admin,
    )
    assert upload.status_code == 201
    image = upload.json()
    removed = await gateway.delete(f"/products/{product['id']}/images/{image['id']}", headers=admin)
    assert removed.status_code == 204

    assert (await gateway.delete(f"/products/{product['id']}", headers=admin)).status_code == 204
    assert (await gateway.get("/products", params={"q": "wireless"})).json()["items"] == []
    archived = await gateway.get(f"/products/{product['id']}")
    assert archived.json()["status"] == "archived"


async def test_customers_cannot_write_the_catalog_through_the_gateway(
    gateway: httpx.AsyncClient, signer: Signer
) -> None:
    customer = await signer.headers("customer")
    writes = [
        gateway.post("/categories", json={"name": "X"}, headers=customer),
        gateway.post("/products", json={"sku": "X", "name": "X", "price": 1}, headers=customer),
    ]
    for write in writes:
        assert (await write).status_code == 403
    anonymous = await gateway.post("/products", json={"sku": "X", "name": "X", "price": 1})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
