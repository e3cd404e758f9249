"""What the image and storage tests share: images made with Pillow (and one bomb
made by hand, cheaply), products written straight to the worker's database, the
products app with its media in a temporary directory, and an S3 server (moto) on
loopback."""

from __future__ import annotations

import functools
import io
import struct
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from fastapi import FastAPI
from PIL import ExifTags, Image, ImageDraw, PngImagePlugin
from sqlalchemy.ext.asyncio import create_async_engine

from shop.cli.processes import free_port
from shop.kit.config import to_async_database_url
from shop.kit.db import create_sessionmaker
from shop.products.app import create_app
from shop.products.config import ProductsSettings
from shop.products.models import Product, ProductStatus
from tests.products.conftest import Signer, products_settings, truncate
from tests.support import Databases, app_client

API = "/api/v1"
RED = (220, 20, 20)
BLUE = (20, 20, 220)


# --- images -------------------------------------------------------------------------


def two_halves(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: where they end up shows how it was turned."""
    image = Image.new(mode, size, RED)
    ImageDraw.Draw(image).rectangle((size[0] // 2, 0, size[0], size[1]), fill=BLUE)
    return image


def jpeg_with_exif(size: tuple[int, int] = (400, 200), orientation: int = 6) -> bytes:
    """A camera's JPEG: orientation, maker, GPS position, a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Spy Camera Co"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, 3.0)
    out = io.BytesIO()
    two_halves(size).save(out, "JPEG", exif=exif, quality=95, comment=b"shot at home")
    return out.getvalue()


def png_with_metadata(size: tuple[int, int] = (300, 500)) -> bytes:
    """A PNG with alpha, text chunks and EXIF."""
    image = two_halves(size, "RGBA")
    image.putpixel((0, 0), (0, 0, 0, 0))
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Jane Doe, 1 Secret Lane")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Spy Camera Co"
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=text, exif=exif)
    return out.getvalue()


def webp_with_metadata(size: tuple[int, int] = (640, 480)) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Spy Camera Co"
    out = io.BytesIO()
    two_halves(size).save(out, "WEBP", exif=exif, xmp=b"<x:xmpmeta>secret</x:xmpmeta>", quality=90)
    return out.getvalue()


def animated_gif(size: tuple[int, int] = (120, 80), frames: int = 3) -> bytes:
    colours = [RED, BLUE, (20, 200, 20), (200, 200, 20)]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=images[1:],
        duration=100,
        loop=0,
        comment=b"made by a secret tool",
    )
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid 1-bit greyscale PNG of ``width`` x ``height`` black pixels: a few
    hundred kilobytes that would decode to ``width * height`` bytes in Pillow.
    Written chunk by chunk, so that making it never holds the pixels either."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grey
    row = b"\x00" * (1 + (width + 7) // 8)  # filter type 0, then the packed bits
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def near(pixel: Any, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


# --- the database and the app -------------------------------------------------------


async def insert_product(database_url: str, **fields: Any) -> uuid.UUID:
    """An active product, written with the models straight to the database."""
    product_id = uuid.uuid4()
    values: dict[str, Any] = {
        "id": product_id,
        "sku": f"IMG-{product_id.hex[:10]}",
        "slug": f"pictured-{product_id.hex[:10]}",
        "name": "Pictured Product",
        "price": 1999,
        "currency": "USD",
        "status": ProductStatus.ACTIVE,
    }
    values.update(fields)
    engine = create_async_engine(to_async_database_url(database_url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            session.add(Product(**values))
    finally:
        await engine.dispose()
    return product_id


def media_settings(
    databases: Databases, signer: Signer, data_dir: Path, **overrides: Any
) -> ProductsSettings:
    overrides.setdefault("media_dir", data_dir / "media")
    overrides.setdefault("storage_backend", "local")
    return products_settings(databases, signer, data_dir, **overrides)


@dataclass
class ImagesFixture:
    client: httpx.AsyncClient
    app: FastAPI
    settings: ProductsSettings
    admin: dict[str, str]
    customer: dict[str, str]
    product_id: uuid.UUID

    @property
    def media_dir(self) -> Path:
        return self.settings.media_directory

    async def upload(
        self,
        data: bytes,
        filename: str = "photo.jpg",
        content_type: str = "application/octet-stream",
        *,
        product_id: uuid.UUID | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            f"{API}/products/{product_id or self.product_id}/images",
            files={"file": (filename, data, content_type)},
            headers=self.admin if headers is None else headers,
        )

    async def delete(self, image_id: str, *, product_id: uuid.UUID | None = None) -> httpx.Response:
        return await self.client.delete(
            f"{API}/products/{product_id or self.product_id}/images/{image_id}",
            headers=self.admin,
        )

    def stored_files(self) -> list[Path]:
        return sorted(p for p in self.media_dir.rglob("*") if p.is_file())


@asynccontextmanager
async def running_images_app(
    databases: Databases, signer: Signer, data_dir: Path, **overrides: Any
) -> AsyncIterator[ImagesFixture]:
    """The products app in-process, with one product to picture. Emptied afterwards."""
    settings = media_settings(databases, signer, data_dir, **overrides)
    app = create_app(settings)
    try:
        async with app_client(app) as client:
            yield ImagesFixture(
                client,
                app,
                settings,
                admin=await signer.headers("customer", "admin"),
                customer=await signer.headers("customer"),
                product_id=await insert_product(databases.urls["products"]),
            )
    finally:
        await truncate(databases, signer.redis_url)


# --- S3 -----------------------------------------------------------------------------


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 on a loopback port of its own; yields its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials in the environment, where boto3 looks first; nothing of the
    developer's own AWS configuration is read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def s3_client(endpoint_url: str) -> Any:
    """A plain boto3 client, to arrange and inspect the bucket independently of the app."""
    return boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")


def new_bucket(endpoint_url: str) -> str:
    name = f"shop-media-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint_url).create_bucket(Bucket=name)
    return name
