"""A product's pictures: uploaded through the dashboard's form and passed on to the
API's multipart upload as they came; deleted."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from shop.admin.api_client import ApiError
from shop.admin.products import detail_page, write
from shop.admin.web import PREFIX, CheckedForm, CurrentStaff, redirect

router = APIRouter(prefix=PREFIX + "/products", include_in_schema=False)


@router.post("/{product_id}/images")
async def upload_image(
    request: Request, staff: CurrentStaff, form: CheckedForm, product_id: uuid.UUID
) -> Response:
    picture = form.get("file")
    if not isinstance(picture, UploadFile) or not picture.filename:
        return await detail_page(
            request,
            staff,
            product_id,
            section="images",
            form={},
            errors={"file": "Choose a picture (JPEG, PNG, WebP or GIF)."},
            error="No picture was added.",
            status_code=422,
        )
    content = await picture.read()
    files = {
        "file": (picture.filename, content, picture.content_type or "application/octet-stream")
    }
    try:
        await staff.call("POST", f"/products/{product_id}/images", files=files)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await detail_page(
            request,
            staff,
            product_id,
            section="images",
            form={},
            errors={"file": exc.message()},
            error="The picture was not added.",
            status_code=exc.status,
        )
    return redirect(f"/products/{product_id}?notice=created")


@router.post("/{product_id}/images/{image_id}/delete")
async def delete_image(
    request: Request,
    staff: CurrentStaff,
    form: CheckedForm,
    product_id: uuid.UUID,
    image_id: uuid.UUID,
) -> Response:
    path = f"/products/{product_id}/images/{image_id}"
    return await write(request, staff, product_id, "images", form, "DELETE", path, None, "deleted")
