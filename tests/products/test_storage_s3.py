"""The S3 media storage against moto's S3 server on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from shop.products.storage import IMMUTABLE_CACHE_CONTROL, S3MediaStorage
from tests.products.conftest import Signer
from tests.products.images_support import (
    API,
    ImagesFixture,
    fake_aws_credentials,
    jpeg_with_exif,
    moto_server,
    new_bucket,
    opened,
    png_with_metadata,
    running_images_app,
    s3_client,
)
from tests.support import Databases


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A new, empty bucket; the environment holds dummy credentials meanwhile."""
    fake_aws_credentials(monkeypatch, tmp_path)
    return new_bucket(moto_url)


@pytest.fixture
async def storage(moto_url: str, bucket: str) -> AsyncIterator[S3MediaStorage]:
    async with S3MediaStorage(bucket, region="us-east-1", endpoint_url=moto_url) as opened_:
        yield opened_


def object_keys(moto_url: str, bucket: str) -> list[str]:
    listed = s3_client(moto_url).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def test_put_sets_type_and_cache_headers(
    storage: S3MediaStorage, moto_url: str, bucket: str
) -> None:
    await storage.put("products/p1/a.png", b"png bytes", "image/png")
    head = s3_client(moto_url).head_object(Bucket=bucket, Key="products/p1/a.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == IMMUTABLE_CACHE_CONTROL
    assert head["ContentLength"] == len(b"png bytes")
    stored = await storage.read("products/p1/a.png")
    assert stored is not None
    assert (stored.data, stored.content_type) == (b"png bytes", "image/png")


async def test_a_presigned_url_fetches_the_bytes(storage: S3MediaStorage) -> None:
    data = jpeg_with_exif((64, 32), orientation=1)
    await storage.put("products/p1/photo.jpg", data, "image/jpeg")
    url = storage.url("products/p1/photo.jpg")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(7 * 24 * 3600)]
    assert "X-Amz-Signature" in query
    # Remembered: the same URL while it has most of its life ahead, so caches can work.
    assert storage.url("products/p1/photo.jpg") == url

    async with httpx.AsyncClient(timeout=10) as browser:
        fetched = await browser.get(url)
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == "image/jpeg"
    assert fetched.headers["cache-control"] == IMMUTABLE_CACHE_CONTROL


async def test_a_presigned_url_is_signed_anew_when_half_its_life_is_gone(
    storage: S3MediaStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = storage._signer
    real_sign = signer.generate_presigned_url
    signed: list[str] = []

    def counting_sign(*args: Any, **kwargs: Any) -> str:
        signed.append(kwargs["Params"]["Key"])
        url: str = real_sign(*args, **kwargs)
        return url

    monkeypatch.setattr(signer, "generate_presigned_url", counting_sign)
    first = storage.url("products/p1/a.png")
    assert storage.url("products/p1/a.png") == first
    storage.url("products/p1/b.png")
    assert signed == ["products/p1/a.png", "products/p1/b.png"]

    later = time.monotonic() + storage.presign_expiry / 2 + 1
    monkeypatch.setattr("shop.products.storage.time.monotonic", lambda: later)
    storage.url("products/p1/a.png")
    storage.url("products/p1/a.png")
    assert signed == ["products/p1/a.png", "products/p1/b.png", "products/p1/a.png"]


async def test_delete_removes_the_object_and_may_be_repeated(
    storage: S3MediaStorage, moto_url: str, bucket: str
) -> None:
    await storage.put("products/p1/a.gif", b"gif", "image/gif")
    await storage.put("products/p1/b.gif", b"gif", "image/gif")
    await storage.delete("products/p1/a.gif")
    assert object_keys(moto_url, bucket) == ["products/p1/b.gif"]
    assert await storage.read("products/p1/a.gif") is None
    await storage.delete("products/p1/a.gif")
    await storage.delete("products/never/was.gif")
    async with httpx.AsyncClient(timeout=10) as browser:
        assert (await browser.get(storage.url("products/p1/a.gif"))).status_code == 404


async def test_public_base_urls_are_plain(moto_url: str, bucket: str) -> None:
    # Public URLs are for a bucket (or a CDN in front of it) that lets anyone read.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3_client(moto_url).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    public = S3MediaStorage(
        bucket,
        region="us-east-1",
        endpoint_url=moto_url,
        public_base_url=f"{moto_url}/{bucket}/",
    )
    async with public:
        await public.put("products/p1/a.webp", b"webp", "image/webp")
        url = public.url("products/p1/a.webp")
        assert url == f"{moto_url}/{bucket}/products/p1/a.webp"
        async with httpx.AsyncClient(timeout=10) as browser:
            fetched = await browser.get(url)
        assert fetched.content == b"webp"


async def test_readiness_asks_for_the_bucket(storage: S3MediaStorage, moto_url: str) -> None:
    await storage.check()
    async with S3MediaStorage(
        "no-such-bucket", region="us-east-1", endpoint_url=moto_url
    ) as missing:
        with pytest.raises(ClientError):
            await missing.check()


async def test_keys_are_checked(storage: S3MediaStorage) -> None:
    for key in ("../x.png", "/abs.png", ""):
        with pytest.raises(ValueError, match="media key"):
            await storage.put(key, b"x", "image/png")
        with pytest.raises(ValueError, match="media key"):
            storage.url(key)
        assert await storage.read(key) is None


@pytest.fixture
async def shop_on_s3(
    databases: Databases, signer: Signer, tmp_path: Path, moto_url: str, bucket: str
) -> AsyncIterator[ImagesFixture]:
    async with running_images_app(
        databases,
        signer,
        tmp_path,
        storage_backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=moto_url,
        aws_region="us-east-1",
    ) as fixture:
        yield fixture


async def test_upload_and_delete_through_the_api_on_s3(
    shop_on_s3: ImagesFixture, moto_url: str, bucket: str
) -> None:
    shop = shop_on_s3
    ready = await shop.client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["media"] == "ok"

    response = await shop.upload(png_with_metadata((300, 500)), "a.png", "image/png")
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    assert (image["width"], image["height"]) == (300, 500)
    keys = object_keys(moto_url, bucket)
    assert keys == sorted(
        [
            f"products/{shop.product_id}/{image['id']}.png",
            f"products/{shop.product_id}/{image['id']}-thumb.webp",
        ]
    )
    async with httpx.AsyncClient(timeout=10) as browser:
        original = await browser.get(image["url"])
        thumbnail = await browser.get(image["thumbnail_url"])
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/png"
    assert opened(original.content).size == (300, 500)
    assert thumbnail.headers["content-type"] == "image/webp"
    assert max(opened(thumbnail.content).size) <= shop.settings.thumbnail_size
    assert shop.stored_files() == []  # nothing on the local disk

    # The local /media route serves nothing with S3: the URLs point at the bucket.
    missing = await shop.client.get(f"/media/{keys[0]}")
    assert missing.status_code == 404

    listed = await shop.client.get(f"{API}/products/{shop.product_id}")
    assert [i["id"] for i in listed.json()["images"]] == [image["id"]]

    assert (await shop.delete(image["id"])).status_code == 204
    assert object_keys(moto_url, bucket) == []
    assert (await shop.delete(image["id"])).status_code == 404


async def test_a_failed_upload_leaves_no_objects_on_s3(
    shop_on_s3: ImagesFixture, moto_url: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shop.products import image_service

    async def broken_announce(*_: Any, **__: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(image_service, "announce", broken_announce)
    response = await shop_on_s3.upload(png_with_metadata(), "a.png")
    assert response.status_code == 500
    assert object_keys(moto_url, bucket) == []
