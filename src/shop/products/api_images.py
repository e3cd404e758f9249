"""Routes of product images: upload and delete (admins), and the local backend's
``/media`` files. The use cases, and how they keep storage and database in step,
are in :mod:`shop.products.image_service`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile

from shop.kit.db import Session
from shop.kit.errors import NotFoundError, problem_responses
from shop.kit.identity import AdminUser
from shop.products import image_service
from shop.products.cache import CatalogCache
from shop.products.images import ImageLimits
from shop.products.presenters import image_out
from shop.products.schemas import ImageOut
from shop.products.storage import IMMUTABLE_CACHE_CONTROL, LocalMediaStorage, MediaStorage

router = APIRouter(tags=["images"])


def _media(request: Request) -> MediaStorage:
    media: MediaStorage = request.app.state.media
    return media


def _cache(request: Request) -> CatalogCache | None:
    cache: CatalogCache | None = getattr(request.app.state, "cache", None)
    return cache


@router.post(
    "/api/v1/products/{product_id}/images",
    status_code=201,
    summary="Upload an image of a product (JPEG, PNG, WebP or GIF)",
    responses=problem_responses(401, 403, 404, 413, 415, 422),
    form_limits={"max_files": 1, "max_fields": 8},
)
async def upload_image(
    product_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The image; its name and type are ignored")],
    request: Request,
    _: AdminUser,
) -> ImageOut:
    media = _media(request)
    stored = await image_service.upload_product_image(
        request.app.state.sessionmaker,
        media,
        _cache(request),
        ImageLimits.from_settings(request.app.state.settings),
        product_id,
        file,
    )
    return image_out(stored, media)


@router.delete(
    "/api/v1/products/{product_id}/images/{image_id}",
    status_code=204,
    summary="Delete an image of a product, and its files",
    responses=problem_responses(401, 403, 404),
)
async def delete_image(
    product_id: uuid.UUID,
    image_id: uuid.UUID,
    request: Request,
    _: AdminUser,
    session: Session,
) -> Response:
    await image_service.delete_product_image(
        session, _media(request), _cache(request), product_id, image_id
    )
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
        **problem_responses(404),
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
