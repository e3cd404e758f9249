"""Product images: upload and delete (admins), and the local backend's ``/media`` files.

Storage and database are two systems without a shared transaction, so the
order of the steps is chosen so that neither leaves anything behind:

- **Upload** processes the file first (nothing written yet), then writes the
  original and the thumbnail to the storage, then adds the row in a
  transaction that this handler commits itself. If anything fails after the
  objects were written, the commit included, they are deleted again before
  the error is answered. (The one gap: a commit that succeeded but whose
  acknowledgement was lost looks like a failure, and its objects are deleted;
  the row then points at nothing, which a second upload repairs.)
- **Delete** removes the row, and the objects only after the transaction has
  committed (:func:`shop.kit.db.after_commit`): a delete that rolls back
  keeps its files. If the storage then fails, the objects are orphans; that is
  logged, and the client is still told the truth, 204.

Either way the product's ``version`` (its ``ETag``) moves on, its cached reads
are invalidated once committed, and the search index hears of it through the
outbox.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, File, Request, Response, UploadFile
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import Session, after_commit
from shop.kit.errors import (
    NotFoundError,
    ShopError,
    UpstreamUnavailableError,
    problem_responses,
)
from shop.kit.identity import AdminUser
from shop.kit.outbox import enqueue
from shop.products.cache import CatalogCache
from shop.products.errors import ProductNotFoundError
from shop.products.images import ImageLimits, ProcessedImage, process_upload, read_limited
from shop.products.models import Product, ProductImage, outbox
from shop.products.schemas import ImageOut
from shop.products.search import PRODUCT_CHANGED
from shop.products.storage import (
    IMMUTABLE_CACHE_CONTROL,
    LocalMediaStorage,
    MediaStorage,
)

router = APIRouter(tags=["images"])
log = structlog.get_logger("shop.products.images")


class ImageNotFoundError(ShopError):
    status = 404
    title = "Image not found"
    type_slug = "image-not-found"


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problem_responses(*statuses)


def _media(request: Request) -> MediaStorage:
    media: MediaStorage = request.app.state.media
    return media


def _cache(request: Request) -> CatalogCache | None:
    cache: CatalogCache | None = getattr(request.app.state, "cache", None)
    return cache


async def _changed(session: AsyncSession, cache: CatalogCache | None, product: Product) -> None:
    """The product's representation changed: new version, fresh reads, search told."""
    product.updated_at = datetime.now(UTC)  # any change bumps the version (the ETag)
    await session.flush()
    if cache is not None:
        cache.invalidate_after_commit(session)
    await enqueue(session, outbox, PRODUCT_CHANGED, {"id": str(product.id)})


async def _locked_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    # populate_existing: the row as locked, not as this session may have seen it earlier.
    product = await session.scalar(
        select(Product)
        .where(Product.id == product_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if product is None:
        raise ProductNotFoundError
    return product


async def _delete_objects(media: MediaStorage, *keys: str) -> None:
    """Best effort: a failure is logged (the objects are orphans), never raised."""
    for key in keys:
        try:
            await media.delete(key)
        except Exception as exc:  # the caller's outcome stands either way
            log.error("media object not deleted", key=key, error=repr(exc))


async def _put(media: MediaStorage, key: str, data: bytes, content_type: str) -> None:
    try:
        await media.put(key, data, content_type)
    except Exception as exc:
        log.error("media object not written", key=key, error=repr(exc))
        raise UpstreamUnavailableError("The media storage is unavailable.") from exc


def _keys(product_id: uuid.UUID, image_id: uuid.UUID, image: ProcessedImage) -> tuple[str, str]:
    # Random (the image id is a fresh UUID) and never reused: cacheable forever.
    base = f"products/{product_id}/{image_id}"
    return base + image.extension, f"{base}-thumb{image.thumbnail_extension}"


async def store_product_image(
    session: AsyncSession,
    media: MediaStorage,
    cache: CatalogCache | None,
    product_id: uuid.UUID,
    image: ProcessedImage,
) -> ProductImage:
    """Stores a processed image and its thumbnail, then adds it as the product's last
    image and **commits** ``session``, deleting the objects again if anything fails.

    Call it with no transaction of the caller's open on ``session`` (none is held
    while the objects are written). The cache is invalidated by the callbacks of
    :func:`shop.kit.db.after_commit`, which the session's owner runs after the commit.
    Raises :class:`ProductNotFoundError` if the product is gone by then.
    """
    image_id = uuid.uuid4()
    storage_key, thumbnail_key = _keys(product_id, image_id, image)

    written: list[str] = []
    try:
        for key, blob, content_type in (
            (storage_key, image.data, image.content_type),
            (thumbnail_key, image.thumbnail, image.thumbnail_content_type),
        ):
            await _put(media, key, blob, content_type)
            written.append(key)

        product = await _locked_product(session, product_id)  # serializes positions
        last = await session.scalar(
            select(func.max(ProductImage.position)).where(ProductImage.product_id == product_id)
        )
        row = ProductImage(
            id=image_id,
            product_id=product_id,
            storage_key=storage_key,
            thumbnail_key=thumbnail_key,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            size_bytes=len(image.data),
            position=0 if last is None else last + 1,
        )
        session.add(row)
        await _changed(session, cache, product)
        # Committed here, not by the session's owner, so that a failed commit
        # still finds the objects to delete.
        await session.commit()
    except BaseException:
        await session.rollback()
        await _delete_objects(media, *written)
        raise
    return row


@router.post(
    "/api/v1/products/{product_id}/images",
    status_code=201,
    summary="Upload an image of a product (JPEG, PNG, WebP or GIF)",
    responses=_responses(401, 403, 404, 413, 415, 422),
    form_limits={"max_files": 1, "max_fields": 8},
)
async def upload_image(
    product_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The image; its name and type are ignored")],
    request: Request,
    _: AdminUser,
    session: Session,
) -> ImageOut:
    settings = request.app.state.settings
    media = _media(request)
    if await session.get(Product, product_id) is None:
        raise ProductNotFoundError
    # No transaction (nor pooled connection) is held while the image is processed and stored.
    await session.commit()

    data = await read_limited(file, settings.image_max_bytes)
    image = await process_upload(data, ImageLimits.from_settings(settings))
    stored = await store_product_image(session, media, _cache(request), product_id, image)
    log.info("image uploaded", product_id=str(product_id), image_id=str(stored.id))
    return ImageOut(
        id=stored.id,
        url=media.url(stored.storage_key),
        thumbnail_url=media.url(stored.thumbnail_key),
        width=stored.width,
        height=stored.height,
    )


@router.delete(
    "/api/v1/products/{product_id}/images/{image_id}",
    status_code=204,
    summary="Delete an image of a product, and its files",
    responses=_responses(401, 403, 404),
)
async def delete_image(
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    request: Request,
    _: AdminUser,
    session: Session,
) -> Response:
    media = _media(request)
    product = await _locked_product(session, product_id)
    image = await session.scalar(
        select(ProductImage).where(
            ProductImage.id == image_id, ProductImage.product_id == product_id
        )
    )
    if image is None:
        raise ImageNotFoundError
    keys = (image.storage_key, image.thumbnail_key)
    await session.delete(image)
    await _changed(session, _cache(request), product)

    async def delete_objects() -> None:
        await _delete_objects(media, *keys)

    after_commit(session, delete_objects)  # a rolled-back delete keeps its files
    return Response(status_code=204)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110, section 13.1.2), as If-None-Match asks for."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


@router.get(
    "/media/{key:path}",
    summary="A stored image or thumbnail (local storage backend)",
    response_class=Response,
    responses={
        200: {"content": {"image/*": {}}},
        304: {"description": "Not modified"},
        **_responses(404),
    },
)
async def media_file(key: str, request: Request) -> Response:
    media = _media(request)
    # With S3 the URLs point at the bucket; nothing is served from here.
    stored = await media.read(key) if isinstance(media, LocalMediaStorage) else None
    if stored is None:
        raise NotFoundError("No such media file.")
    headers = {
        "ETag": stored.etag,
        "Cache-Control": IMMUTABLE_CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        # Served from the API's origin: should a file ever be opened as a document,
        # it may run nothing and load nothing.
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, stored.etag):
        return Response(status_code=304, headers=headers)
    return Response(stored.data, media_type=stored.content_type, headers=headers)


# HEAD answers the same headers (the server leaves out the body); one operation in the docs.
router.add_api_route("/media/{key:path}", media_file, methods=["HEAD"], include_in_schema=False)
