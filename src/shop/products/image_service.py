"""Product image use cases: upload and delete (the routes are in api_images.py).

Storage and database are two systems without a shared transaction, so the
order of the steps is chosen so that neither leaves anything behind:

- **Upload** (:func:`upload_product_image`) processes the file first (nothing
  written yet, no transaction open), then writes the original and the
  thumbnail to the storage, then adds the row in a unit of work of its own
  (:func:`store_product_image`). If anything fails after the objects were
  written, the commit included, they are deleted again before the error is
  answered. (The one gap: a commit that succeeded but whose acknowledgement
  was lost looks like a failure, and its objects are deleted; the row then
  points at nothing, which a second upload repairs.)
- **Delete** (:func:`delete_product_image`) removes the row in the caller's
  transaction, and the objects only after it has committed
  (:func:`shop.kit.db.after_commit`): a delete that rolls back keeps its files.
  If the storage then fails, the objects are orphans; that is logged, and the
  client is still told the truth, 204.

Either way the product's ``version`` (its ``ETag``) moves on, and the change is
announced (:func:`shop.products.changes.announce`): its cached reads are
invalidated once committed, and the search index hears of it through the outbox.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import after_commit, unit_of_work
from shop.kit.errors import UpstreamUnavailableError
from shop.products.cache import CatalogCache
from shop.products.changes import announce
from shop.products.errors import ImageNotFoundError, ProductNotFoundError
from shop.products.images import ImageLimits, ProcessedImage, Readable, process_upload, read_limited
from shop.products.models import Product, ProductImage
from shop.products.repositories import ImageRepository, ProductRepository
from shop.products.storage import MediaStorage

log = structlog.get_logger("shop.products.images")


async def upload_product_image(
    sessions: async_sessionmaker[AsyncSession],
    media: MediaStorage,
    cache: CatalogCache | None,
    limits: ImageLimits,
    product_id: uuid.UUID,
    file: Readable,
) -> ProductImage:
    """Checks, processes and stores an uploaded file as the product's last image.

    Opens its own units of work: none is held while the file is read, processed
    and written to the storage."""
    async with unit_of_work(sessions) as session:
        if await ProductRepository(session).get(product_id) is None:
            raise ProductNotFoundError
    data = await read_limited(file, limits.max_bytes)
    image = await process_upload(data, limits)
    stored = await store_product_image(sessions, media, cache, product_id, image)
    log.info("image uploaded", product_id=str(product_id), image_id=str(stored.id))
    return stored


async def store_product_image(
    sessions: async_sessionmaker[AsyncSession],
    media: MediaStorage,
    cache: CatalogCache | None,
    product_id: uuid.UUID,
    image: ProcessedImage,
) -> ProductImage:
    """Stores a processed image and its thumbnail, then adds it as the product's last
    image in a unit of work of its own, deleting the objects again if anything fails
    (the commit included, which is why it owns its transaction). Raises
    :class:`ProductNotFoundError` if the product is gone by then."""
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

        async with unit_of_work(sessions) as session:
            product = await _locked_product(session, product_id)  # serializes positions
            images = ImageRepository(session)
            last = await images.last_position(product_id)
            row = images.add(
                ProductImage(
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
            )
            await _changed(session, cache, product)
    except BaseException:
        await _delete_objects(media, *written)
        raise
    return row


async def delete_product_image(
    session: AsyncSession,
    media: MediaStorage,
    cache: CatalogCache | None,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
) -> None:
    """Removes the image's row in the caller's transaction; its files go once that
    has committed."""
    product = await _locked_product(session, product_id)
    images = ImageRepository(session)
    image = await images.of_product(product_id, image_id)
    if image is None:
        raise ImageNotFoundError
    keys = (image.storage_key, image.thumbnail_key)
    await images.delete(image)
    await _changed(session, cache, product)

    async def delete_objects() -> None:
        await _delete_objects(media, *keys)

    after_commit(session, delete_objects)  # a rolled-back delete keeps its files


async def _changed(session: AsyncSession, cache: CatalogCache | None, product: Product) -> None:
    """The product's representation changed: a new version (its ETag), announced."""
    product.updated_at = datetime.now(UTC)  # any change bumps the version
    await ProductRepository(session).flush()
    await announce(session, cache, [product.id])


async def _locked_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await ProductRepository(session).lock(product_id)
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
