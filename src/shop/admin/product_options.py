"""A product's options changed from its page: renamed, values added, renamed (the
variants follow) or removed, an option added or removed (:mod:`shop.admin.option_forms`),
sent as ``PATCH /products/{id}`` with the version the page was read at (``If-Match``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from shop.admin import option_forms
from shop.admin.products import STALE, detail_page, write
from shop.admin.web import PREFIX, CheckedForm, CurrentStaff

router = APIRouter(prefix=PREFIX + "/products", include_in_schema=False)


@router.post("/{product_id}/options")
async def change_options(
    request: Request, staff: CurrentStaff, form: CheckedForm, product_id: uuid.UUID
) -> Response:
    product = await staff.get(f"/products/{product_id}")
    version = str(form.get("version", ""))
    if version != str(product["version"]):
        # The form's "old=new" names the values of the options the page showed: read
        # against other options they could mean something else. (The API's If-Match
        # still decides a change between this read and the PATCH.)
        return await detail_page(request, staff, product_id, error=STALE, status_code=412)
    return await write(
        request,
        staff,
        product_id,
        "options",
        form,
        "PATCH",
        f"/products/{product_id}",
        lambda values: option_forms.options_body(values, product),
        "saved",
        headers={"if-match": f'"v{version}"'},
        where=lambda field: option_forms.input_for(field, form),
    )
