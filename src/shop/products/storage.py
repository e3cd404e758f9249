"""Media storage: where product images live, behind a small port.

``local`` keeps each object as a file under ``settings.media_directory`` and
the products service serves it at ``GET /media/{key}`` (the gateway routes
``/media`` there), so an image's URL is ``{PUBLIC_BASE_URL}/media/{key}``.

``s3`` keeps objects in a bucket (AWS or anything speaking S3: MinIO, moto).
Its URLs are ``{S3_PUBLIC_BASE_URL}/{key}`` when the bucket (or a CDN in front
of it) is public, else presigned GET URLs. Presigning is local computation
(an HMAC over the request with the credentials boto3 found), so URLs are made
per key on demand and remembered: each is signed to live seven days (the
SigV4 maximum) and re-signed once it is half that old. A URL handed out is
therefore good for at least 3.5 days, and it stays the same for 3.5 days, so
browsers and CDNs can cache the image behind it.

Keys are chosen by the caller and never reused for other content (the images
module makes them from random ids), which is why every object is served with
``Cache-Control: public, max-age=31536000, immutable``.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote

import aioboto3  # type: ignore[import-untyped]
import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from fastapi import FastAPI

from shop.kit.health import ReadinessCheck
from shop.kit.resource import Resource
from shop.products.config import ProductsSettings

# Objects never change under their key: caches may keep them for a year.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"

CONTENT_TYPES: Mapping[str, str] = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
}
EXTENSIONS: Mapping[str, str] = {value: key for key, value in CONTENT_TYPES.items()}

MAX_KEY_LENGTH = 300  # product_images.storage_key
# "/"-separated segments of letters, digits, ".", "_" and "-", each starting with a
# letter or digit: no "..", no absolute paths, no backslashes, nothing to escape.
_KEY = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._\-]*/)*[A-Za-z0-9][A-Za-z0-9._\-]*$")

PRESIGN_EXPIRY_SECONDS = 7 * 24 * 3600
PRESIGN_CACHE_SIZE = 10_000


class InvalidMediaKeyError(ValueError):
    """A key that could name something outside the storage (or is just malformed)."""


def check_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidMediaKeyError(f"not a valid media key: {key!r}")
    return key


def content_type_of(key: str) -> str:
    return CONTENT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str
    etag: str  # quoted, as in an ETag header


class MediaStorage(Protocol):
    """Where image bytes live. Used as ``async with storage:`` for the app's lifetime."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Stores ``data`` under ``key``, replacing what was there."""
        ...

    async def delete(self, key: str) -> None:
        """Removes ``key``; removing what is not there is not an error."""
        ...

    def url(self, key: str) -> str:
        """An absolute URL a client can fetch the object at, as it is."""
        ...

    async def read(self, key: str) -> StoredObject | None:
        """The object, or ``None`` if there is none under ``key``."""
        ...

    async def check(self) -> None:
        """Raises unless the storage can be used (readiness)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class LocalMediaStorage:
    """Files under ``root``; URLs ``{base_url}/media/{key}``, served by the products app."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def path(self, key: str) -> Path:
        """Where ``key`` lives; raises :class:`InvalidMediaKeyError` for a bad key."""
        path = self.root / check_key(key)
        # The pattern already rules out escaping the root; this is the belt to its braces.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise InvalidMediaKeyError(f"not a valid media key: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path(key)
        if content_type_of(key) != content_type:
            raise ValueError(f"the extension of {key!r} does not match {content_type}")
        await asyncio.to_thread(self._write, path, data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        # Written next to its final name, then renamed over it: a reader sees the whole
        # file or none, and a crash leaves at worst a stray temporary file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).chmod(0o644)  # public content, like any static file
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    def url(self, key: str) -> str:
        return f"{self.base_url}/media/{check_key(key)}"

    async def read(self, key: str) -> StoredObject | None:
        try:
            path = self.path(key)
        except InvalidMediaKeyError:
            return None
        return await asyncio.to_thread(self._read, path)

    @staticmethod
    def _read(path: Path) -> StoredObject | None:
        try:
            with path.open("rb") as file:
                stat = os.fstat(file.fileno())
                data = file.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        # Files are replaced whole, never modified: inode, size and mtime identify the bytes.
        tag = f"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"
        return StoredObject(data, content_type_of(path.name), f'"{tag}"')

    async def check(self) -> None:
        if not await asyncio.to_thread(os.access, self.root, os.W_OK | os.X_OK):
            raise RuntimeError("the media directory is not writable")


class S3MediaStorage:
    """Objects in an S3 bucket. Credentials are found the way boto3 finds them
    (environment, shared files, instance roles)."""

    def __init__(
        self,
        bucket: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        public_base_url: str | None = None,
        presign_expiry_seconds: int = PRESIGN_EXPIRY_SECONDS,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.presign_expiry = presign_expiry_seconds
        # S3-compatible servers at an endpoint of their own (MinIO, moto) rarely have
        # a wildcard DNS name per bucket: address buckets by path there.
        self._config = Config(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=3,
            read_timeout=30,
        )
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._signer: Any = None
        self._presigned: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def __aenter__(self) -> Self:
        session = aioboto3.Session()
        self._client = await self._stack.enter_async_context(
            session.client("s3", endpoint_url=self.endpoint_url, config=self._config)
        )
        if self.public_base_url is None:
            # A synchronous client for presigning only: that is pure computation, and
            # presenting a product calls url() synchronously.
            self._signer = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint_url, config=self._config
            )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._stack.aclose()
        self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("the S3 storage is not open: use it as `async with storage:`")
        return self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self.client.put_object(
            Bucket=self.bucket,
            Key=check_key(key),
            Body=data,
            ContentType=content_type,
            CacheControl=IMMUTABLE_CACHE_CONTROL,
        )

    async def delete(self, key: str) -> None:
        # S3 answers 204 whether or not the key exists.
        await self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    async def read(self, key: str) -> StoredObject | None:
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=check_key(key))
        except InvalidMediaKeyError:
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        async with response["Body"] as body:
            data: bytes = await body.read()
        return StoredObject(data, str(response["ContentType"]), str(response["ETag"]))

    def url(self, key: str) -> str:
        check_key(key)
        if self.public_base_url is not None:
            return f"{self.public_base_url}/{quote(key, safe='/')}"
        return self._presigned_url(key)

    def _presigned_url(self, key: str) -> str:
        now = time.monotonic()
        cached = self._presigned.get(key)
        if cached is not None and now - cached[1] < self.presign_expiry / 2:
            self._presigned.move_to_end(key)
            return cached[0]
        if self._signer is None:
            raise RuntimeError("the S3 storage is not open: use it as `async with storage:`")
        url: str = self._signer.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self.presign_expiry,
        )
        self._presigned[key] = (url, now)
        self._presigned.move_to_end(key)
        while len(self._presigned) > PRESIGN_CACHE_SIZE:
            self._presigned.popitem(last=False)
        return url

    async def check(self) -> None:
        await self.client.head_bucket(Bucket=self.bucket)


def create_media_storage(settings: ProductsSettings) -> MediaStorage:
    """The storage ``settings.storage_backend`` names, not yet opened."""
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        return S3MediaStorage(
            settings.s3_bucket,
            region=settings.aws_region,
            endpoint_url=settings.s3_endpoint_url,
            public_base_url=settings.s3_public_base_url,
        )
    return LocalMediaStorage(settings.media_directory, settings.public_base_url)


def media_resource(settings: ProductsSettings) -> Resource:
    """Opens the media storage for the app's lifetime at ``app.state.media``."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        async with create_media_storage(settings) as media:
            app.state.media = media
            yield {"media": media.check}

    return resource
