"""The local media storage: files under a directory, keys that cannot escape it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shop.products.config import ProductsSettings
from shop.products.storage import (
    InvalidMediaKeyError,
    LocalMediaStorage,
    S3MediaStorage,
    check_key,
    create_media_storage,
)


@pytest.fixture
async def storage(tmp_path: Path) -> LocalMediaStorage:
    async with LocalMediaStorage(tmp_path / "media", "http://shop.test/") as opened:
        return opened


async def test_put_read_delete(storage: LocalMediaStorage) -> None:
    await storage.put("products/p1/a.png", b"png bytes", "image/png")
    assert (storage.root / "products/p1/a.png").read_bytes() == b"png bytes"
    stored = await storage.read("products/p1/a.png")
    assert stored is not None
    assert (stored.data, stored.content_type) == (b"png bytes", "image/png")
    assert stored.etag.startswith('"')
    assert storage.url("products/p1/a.png") == "http://shop.test/media/products/p1/a.png"

    await storage.delete("products/p1/a.png")
    assert await storage.read("products/p1/a.png") is None
    await storage.delete("products/p1/a.png")  # deleting twice is fine
    await storage.delete("products/never/was.png")


async def test_a_replaced_file_gets_a_new_etag(storage: LocalMediaStorage) -> None:
    await storage.put("a.jpg", b"one", "image/jpeg")
    first = await storage.read("a.jpg")
    await storage.put("a.jpg", b"two!", "image/jpeg")
    second = await storage.read("a.jpg")
    assert first is not None
    assert second is not None
    assert second.data == b"two!"
    assert first.etag != second.etag


async def test_writes_are_atomic_and_leave_no_temporary_files(
    storage: LocalMediaStorage,
) -> None:
    payloads = [bytes([n]) * 200_000 for n in range(8)]
    await asyncio.gather(*(storage.put("same.webp", p, "image/webp") for p in payloads))
    stored = await storage.read("same.webp")
    assert stored is not None
    assert stored.data in payloads  # one whole write, never a mix
    assert [p.name for p in storage.root.iterdir()] == ["same.webp"]


async def test_a_failed_write_leaves_nothing(
    storage: LocalMediaStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        await storage.put("products/x/a.gif", b"gif", "image/gif")
    assert list((storage.root / "products/x").iterdir()) == []


@pytest.mark.parametrize(
    "key",
    [
        "../escape.png",
        "products/../../escape.png",
        "/etc/passwd",
        "products//a.png",
        "products/./a.png",
        ".hidden",
        "products/a.png/",
        "back\\slash.png",
        "",
        "a" * 301,
        "spa ce.png",
        "ünïcode.png",
    ],
)
async def test_keys_that_could_escape_are_refused(storage: LocalMediaStorage, key: str) -> None:
    with pytest.raises(InvalidMediaKeyError):
        check_key(key)
    with pytest.raises(InvalidMediaKeyError):
        await storage.put(key, b"x", "image/png")
    with pytest.raises(InvalidMediaKeyError):
        await storage.delete(key)
    with pytest.raises(InvalidMediaKeyError):
        storage.url(key)
    assert await storage.read(key) is None


async def test_a_symlink_out_of_the_store_is_not_followed(
    storage: LocalMediaStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    (storage.root / "products").symlink_to(outside)
    assert await storage.read("products/secret.png") is None


async def test_the_extension_must_match_the_content_type(storage: LocalMediaStorage) -> None:
    with pytest.raises(ValueError, match="does not match"):
        await storage.put("a.png", b"x", "image/jpeg")


async def test_readiness_needs_the_directory(storage: LocalMediaStorage) -> None:
    await storage.check()
    storage.root.rmdir()
    with pytest.raises(RuntimeError, match="not writable"):
        await storage.check()


def test_the_backend_follows_the_settings(tmp_path: Path) -> None:
    base: dict[str, object] = {
        "_env_file": None,
        "PRODUCTS_DATABASE_URL": "postgresql://localhost/x",
        "SHOP_DATA_DIR": str(tmp_path),
    }
    local = create_media_storage(ProductsSettings(**base))  # type: ignore[arg-type]
    assert isinstance(local, LocalMediaStorage)
    assert local.root == tmp_path / "media"
    assert local.url("a.png") == "http://127.0.0.1:3000/media/a.png"

    s3 = create_media_storage(
        ProductsSettings(**base, storage_backend="s3", s3_bucket="media")  # type: ignore[arg-type]
    )
    assert isinstance(s3, S3MediaStorage)
    assert s3.bucket == "media"
    with pytest.raises(ValueError, match="S3_BUCKET"):
        create_media_storage(ProductsSettings(**base, storage_backend="s3"))  # type: ignore[arg-type]
