"""Uploading, serving and deleting product images through the products API (local storage)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shop.products import image_service
from tests.products.conftest import Signer, plain_url
from tests.products.images_support import (
    API,
    ImagesFixture,
    animated_gif,
    insert_product,
    jpeg_with_exif,
    near,
    opened,
    png_bomb,
    png_with_metadata,
    running_images_app,
    webp_with_metadata,
)
from tests.support import Databases

MiB = 1024 * 1024


@pytest.fixture
async def shop(
    databases: Databases, signer: Signer, tmp_path: Path
) -> AsyncIterator[ImagesFixture]:
    async with running_images_app(databases, signer, tmp_path) as fixture:
        yield fixture


@pytest.fixture
async def db(databases: Databases) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_url(databases.urls["products"]))
    try:
        yield connection
    finally:
        await connection.close()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def media_path(url: str) -> str:
    """The path of an image URL, which the app in-process answers at."""
    assert url.startswith("http://shop.test/media/"), url
    return url.removeprefix("http://shop.test")


async def test_each_format_uploads_with_its_dimensions(
    shop: ImagesFixture, db: asyncpg.Connection
) -> None:
    uploads = [
        (jpeg_with_exif((400, 200), orientation=6), "camera.JPG", "image/jpeg", (200, 400)),
        (png_with_metadata((300, 500)), "drawing.png", "image/png", (300, 500)),
        (webp_with_metadata((640, 480)), "photo.webp", "image/webp", (640, 480)),
        (animated_gif((120, 80)), "spinner.gif", "image/gif", (120, 80)),
    ]
    created = []
    for data, name, content_type, (width, height) in uploads:
        # The client's name and type say nothing: a JPEG sent as a "GIF" is still a JPEG.
        response = await shop.upload(data, filename=name + ".gif", content_type="image/gif")
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"id", "url", "thumbnail_url", "width", "height"}
        assert (body["width"], body["height"]) == (width, height)
        served = await shop.client.get(media_path(body["url"]))
        assert served.status_code == 200
        assert served.headers["content-type"] == content_type
        assert opened(served.content).size == (width, height)
        thumbnail = await shop.client.get(media_path(body["thumbnail_url"]))
        assert thumbnail.headers["content-type"] == "image/webp"
        assert max(opened(thumbnail.content).size) <= shop.settings.thumbnail_size
        created.append(body)

    rows = await db.fetch(
        "SELECT id, position, content_type, width, height FROM product_images"
        " WHERE product_id = $1 ORDER BY position",
        shop.product_id,
    )
    assert [str(r["id"]) for r in rows] == [b["id"] for b in created]
    assert [r["position"] for r in rows] == [0, 1, 2, 3]
    assert [r["content_type"] for r in rows] == [u[2] for u in uploads]
    changes = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE topic = 'product.changed' AND payload->>'id' = $1",
        str(shop.product_id),
    )
    assert changes == 4
    # Originals and thumbnails, nothing else (no temporary files left behind).
    assert len(shop.stored_files()) == 8


async def test_the_stored_original_has_no_exif_and_is_upright(shop: ImagesFixture) -> None:
    response = await shop.upload(jpeg_with_exif((400, 200), orientation=6), "photo.jpg")
    body = response.json()
    [original] = [p for p in shop.stored_files() if p.name == f"{body['id']}.jpg"]
    data = original.read_bytes()
    stored = opened(data)
    assert stored.size == (200, 400)
    assert len(stored.getexif()) == 0
    assert b"Exif" not in data
    assert b"Spy Camera" not in data
    assert near(stored.getpixel((100, 50)), (220, 20, 20))


async def test_product_reads_show_new_images_at_once(shop: ImagesFixture) -> None:
    before = await shop.client.get(f"{API}/products/{shop.product_id}")
    assert before.status_code == 200, before.text
    assert before.json()["images"] == []

    uploaded = (await shop.upload(png_with_metadata(), "a.png")).json()
    after = await shop.client.get(f"{API}/products/{shop.product_id}")
    assert after.json()["images"] == [uploaded]
    # The representation changed, so its ETag did too.
    assert after.headers["etag"] != before.headers["etag"]
    stale = await shop.client.get(
        f"{API}/products/{shop.product_id}", headers={"if-none-match": before.headers["etag"]}
    )
    assert stale.status_code == 200

    assert (await shop.delete(uploaded["id"])).status_code == 204
    gone = await shop.client.get(f"{API}/products/{shop.product_id}")
    assert gone.json()["images"] == []
    assert gone.headers["etag"] not in {before.headers["etag"], after.headers["etag"]}


async def test_media_responses_are_immutable_and_never_sniffed(shop: ImagesFixture) -> None:
    body = (await shop.upload(jpeg_with_exif(), "photo.jpg")).json()
    path = media_path(body["url"])
    response = await shop.client.get(path)
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    etag = response.headers["etag"]
    assert etag.startswith('"')

    again = await shop.client.get(path, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (await shop.client.get(path, headers={"if-none-match": '"other"'})).status_code == 200

    head = await shop.client.head(path)
    assert head.status_code == 200
    assert head.headers["content-type"] == "image/jpeg"


async def test_media_outside_the_store_is_not_found(shop: ImagesFixture, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("not for you")
    shop.media_dir.mkdir(parents=True, exist_ok=True)
    for path in (
        "/media/products/none.jpg",
        "/media/%2e%2e/secret.txt",
        "/media/..%2fsecret.txt",
        "/media/products/..%2f..%2fsecret.txt",
        "/media/%2fetc%2fpasswd",
        "/media/.hidden",
        "/media/products",
    ):
        response = await shop.client.get(path)
        problem(response, 404)
        assert "not for you" not in response.text


async def test_a_text_file_named_png_is_unsupported(shop: ImagesFixture) -> None:
    response = await shop.upload(b"hello, I am text\n" * 100, "image.png", "image/png")
    body = problem(response, 415)
    assert body["type"].endswith("/unsupported-image")
    assert shop.stored_files() == []


async def test_a_decompression_bomb_is_refused(shop: ImagesFixture, db: asyncpg.Connection) -> None:
    response = await shop.upload(png_bomb(), "bomb.png", "image/png")
    body = problem(response, 422)
    assert body["type"].endswith("/image-dimensions-too-large")
    assert shop.stored_files() == []
    assert await db.fetchval("SELECT count(*) FROM product_images") == 0


async def test_one_byte_over_the_image_limit_is_too_large(shop: ImagesFixture) -> None:
    limit = shop.settings.image_max_bytes
    assert limit + 1 < shop.settings.max_body_bytes - 1024  # past the body limit's check
    problem(await shop.upload(b"\xff" * (limit + 1), "big.jpg", "image/jpeg"), 413)


def _multipart_stream(
    size: int, counter: list[int], chunk: int = 64 * 1024
) -> tuple[str, AsyncIterator[bytes], int]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    async def body() -> AsyncIterator[bytes]:
        counter[0] += len(head)
        yield head
        sent = 0
        while sent < size:
            piece = min(chunk, size - sent)
            sent += piece
            counter[0] += piece
            yield b"\0" * piece
        counter[0] += len(tail)
        yield tail

    return f"multipart/form-data; boundary={boundary}", body(), len(head) + size + len(tail)


async def test_30_mib_is_refused_by_its_content_length_before_it_is_read(
    shop: ImagesFixture,
) -> None:
    sent = [0]
    content_type, body, length = _multipart_stream(30 * MiB, sent)
    response = await shop.client.post(
        f"{API}/products/{shop.product_id}/images",
        content=body,
        headers={**shop.admin, "content-type": content_type, "content-length": str(length)},
    )
    problem(response, 413)
    assert sent[0] <= 64 * 1024 + 1024  # at most the first chunk was asked for


async def test_30_mib_without_a_length_is_cut_off_at_the_body_limit(shop: ImagesFixture) -> None:
    sent = [0]
    content_type, body, _ = _multipart_stream(30 * MiB, sent)
    response = await shop.client.post(
        f"{API}/products/{shop.product_id}/images",
        content=body,
        headers={**shop.admin, "content-type": content_type},
    )
    problem(response, 413)
    assert sent[0] <= shop.settings.max_body_bytes + 128 * 1024
    assert shop.stored_files() == []


async def test_the_file_field_is_required(shop: ImagesFixture) -> None:
    response = await shop.client.post(
        f"{API}/products/{shop.product_id}/images",
        files={"picture": ("a.png", png_with_metadata(), "image/png")},
        headers=shop.admin,
    )
    body = problem(response, 422)
    assert body["errors"][0]["field"] == "file"
    no_body = await shop.client.post(f"{API}/products/{shop.product_id}/images", headers=shop.admin)
    problem(no_body, 422)


async def test_only_admins_upload(shop: ImagesFixture) -> None:
    data = png_with_metadata()
    problem(await shop.upload(data, "a.png", headers=shop.customer), 403)
    anonymous = await shop.upload(data, "a.png", headers={})
    problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert shop.stored_files() == []


async def test_an_unknown_product_is_not_found(shop: ImagesFixture) -> None:
    response = await shop.upload(png_with_metadata(), "a.png", product_id=uuid.uuid4())
    problem(response, 404)
    assert shop.stored_files() == []


async def test_delete_removes_both_files(shop: ImagesFixture, db: asyncpg.Connection) -> None:
    kept = (await shop.upload(png_with_metadata(), "kept.png")).json()
    doomed = (await shop.upload(jpeg_with_exif(), "doomed.jpg")).json()
    assert len(shop.stored_files()) == 4

    assert (await shop.delete(doomed["id"])).status_code == 204
    names = {p.name for p in shop.stored_files()}
    assert names == {f"{kept['id']}.png", f"{kept['id']}-thumb.webp"}
    problem(await shop.client.get(media_path(doomed["url"])), 404)
    problem(await shop.client.get(media_path(doomed["thumbnail_url"])), 404)
    assert await db.fetchval("SELECT count(*) FROM product_images") == 1

    problem(await shop.delete(doomed["id"]), 404)
    problem(await shop.delete(str(uuid.uuid4())), 404)


async def test_an_image_is_deleted_only_through_its_own_product(
    shop: ImagesFixture, databases: Databases
) -> None:
    image = (await shop.upload(png_with_metadata(), "a.png")).json()
    other = await insert_product(databases.urls["products"])
    problem(await shop.delete(image["id"], product_id=other), 404)
    problem(await shop.delete(image["id"], product_id=uuid.uuid4()), 404)
    assert len(shop.stored_files()) == 2
    customer = await shop.client.delete(
        f"{API}/products/{shop.product_id}/images/{image['id']}", headers=shop.customer
    )
    problem(customer, 403)
    assert len(shop.stored_files()) == 2


async def test_an_upload_whose_transaction_fails_leaves_no_files(
    shop: ImagesFixture, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_announce(*_: Any, **__: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(image_service, "announce", broken_announce)
    response = await shop.upload(png_with_metadata(), "a.png")
    problem(response, 500)
    assert shop.stored_files() == []
    assert await db.fetchval("SELECT count(*) FROM product_images") == 0


async def test_a_delete_that_rolls_back_keeps_its_files(
    shop: ImagesFixture, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = (await shop.upload(png_with_metadata(), "a.png")).json()

    async def broken_announce(*_: Any, **__: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(image_service, "announce", broken_announce)
    problem(await shop.delete(image["id"]), 500)
    assert len(shop.stored_files()) == 2
    assert await db.fetchval("SELECT count(*) FROM product_images") == 1
    assert (await shop.client.get(media_path(image["url"]))).status_code == 200


async def test_a_storage_failure_is_503_and_leaves_no_files(
    shop: ImagesFixture, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = shop.app.state.media
    real_put = media.put

    async def failing_put(key: str, data: bytes, content_type: str) -> None:
        if "-thumb" in key:
            raise OSError(28, "No space left on device")
        await real_put(key, data, content_type)

    monkeypatch.setattr(media, "put", failing_put)
    response = await shop.upload(png_with_metadata(), "a.png")
    problem(response, 503)
    assert "No space" not in response.text
    assert shop.stored_files() == []  # the original, written first, was deleted again
    assert await db.fetchval("SELECT count(*) FROM product_images") == 0


async def test_concurrent_uploads_take_the_next_positions_in_turn(
    shop: ImagesFixture, db: asyncpg.Connection
) -> None:
    responses = await asyncio.gather(
        *(shop.upload(jpeg_with_exif((80 + n, 60)), f"{n}.jpg") for n in range(5))
    )
    assert [r.status_code for r in responses] == [201] * 5
    positions = await db.fetch(
        "SELECT position FROM product_images WHERE product_id = $1 ORDER BY position",
        shop.product_id,
    )
    assert [r["position"] for r in positions] == [0, 1, 2, 3, 4]
    version = await db.fetchval("SELECT version FROM products WHERE id = $1", shop.product_id)
    assert version == 6  # one new version per image
