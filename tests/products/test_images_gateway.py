"""Images through the gateway over real HTTP: their URLs work as they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shop.cli.processes import free_port
from shop.gateway.app import create_app as create_gateway_app
from shop.gateway.config import GatewaySettings
from shop.products.app import create_app
from tests.products.conftest import Signer, truncate
from tests.products.images_support import (
    API,
    animated_gif,
    insert_product,
    jpeg_with_exif,
    media_settings,
    opened,
)
from tests.support import Databases, served


@dataclass
class Edge:
    client: httpx.AsyncClient  # the gateway's
    gateway_url: str
    signer: Signer
    databases: Databases


@pytest.fixture
async def edge(databases: Databases, signer: Signer, tmp_path: Path) -> AsyncIterator[Edge]:
    """The products service and the gateway, each behind a real server. The products
    service knows the gateway's URL in advance: that is the base of its image URLs."""
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    products = create_app(media_settings(databases, signer, tmp_path, public_base_url=gateway_url))
    try:
        with served(products) as products_url:
            gateway = GatewaySettings(
                _env_file=None,  # never a developer's .env
                products_urls=[products_url],
                redis_url=signer.redis_url,
                jwks_url=signer.jwks_url,
                log_format="json",
            )
            with served(create_gateway_app(gateway), port=gateway_port):
                async with httpx.AsyncClient(base_url=gateway_url, timeout=15) as client:
                    yield Edge(client, gateway_url, signer, databases)
    finally:
        await truncate(databases, signer.redis_url)


async def test_image_urls_are_fetched_through_the_gateway_as_they_are(edge: Edge) -> None:
    product_id = await insert_product(edge.databases.urls["products"])
    admin = await edge.signer.headers("customer", "admin")
    uploads = [(jpeg_with_exif((400, 200)), "image/jpeg"), (animated_gif(), "image/gif")]
    for data, content_type in uploads:
        response = await edge.client.post(
            f"{API}/products/{product_id}/images",
            files={"file": ("upload.bin", data, "application/octet-stream")},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        image = response.json()
        assert image["url"].startswith(edge.gateway_url + "/media/")

        # A client that knows nothing but the URL, as a browser would.
        async with httpx.AsyncClient(timeout=15) as browser:
            for url, kind in ((image["url"], content_type), (image["thumbnail_url"], "image/webp")):
                fetched = await browser.get(url)
                assert fetched.status_code == 200
                assert fetched.headers["content-type"] == kind
                assert fetched.headers["cache-control"] == "public, max-age=31536000, immutable"
                assert fetched.headers["x-content-type-options"] == "nosniff"
                assert "x-request-id" in fetched.headers
                opened(fetched.content)
                revalidated = await browser.get(
                    url, headers={"if-none-match": fetched.headers["etag"]}
                )
                assert revalidated.status_code == 304
                head = await browser.head(url)
                assert head.status_code == 200
                assert head.headers["content-type"] == kind
                assert head.content == b""
        listed = await edge.client.get(f"{API}/products/{product_id}")
        assert image in listed.json()["images"]


async def test_missing_media_is_a_404_through_the_gateway(edge: Edge) -> None:
    response = await edge.client.get("/media/products/nothing-here.jpg")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
