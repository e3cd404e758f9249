"""Products: the list (search, status, cursor pages), create, edit, variants' prices,
stock adjustments, archive."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from shop.admin import option_forms
from shop.admin import product_forms as forms
from shop.admin.api_client import ApiError
from shop.admin.sessions import Staff
from shop.admin.web import PREFIX, CheckedForm, CurrentStaff, redirect, render

router = APIRouter(prefix=PREFIX + "/products", include_in_schema=False)
SECTION = {"section": "Products"}
STALE = (
    "Someone changed this product while you were editing it. The page now "
    "shows their version; make your change again."
)
InputFor = Callable[[str], str | None]


async def _category_choices(staff: Staff) -> list[tuple[str, str]]:
    categories = (await staff.get("/categories"))["items"]
    return sorted(((c["id"], c["name"]) for c in categories), key=lambda c: c[1].lower())


def _refused(
    exc: ApiError,
    inputs: Collection[str],
    form: Mapping[str, Any] | None = None,
    where: InputFor | None = None,
) -> tuple[dict[str, str], str]:
    """The API's errors by the input each concerns (``where``, else
    :func:`forms.input_for`; ``form`` for the new-product form), and the message for the
    top of the form: the problem's own, with whatever belongs to no input."""
    errors: dict[str, str] = {}
    unplaced: list[tuple[str, str]] = []
    for field, words in exc.problems():
        name = where(field) if where else forms.input_for(field, set(inputs), form)
        if name is not None:  # two problems of one input (Size and Color of a row): both
            errors[name] = f"{errors[name]}; {words}" if name in errors else words
        else:
            unplaced.append((field, words.removeprefix("Value error, ")))
    message = exc.message()
    if exc.title == "Validation failed" and (errors or unplaced):  # the kit's "see errors":
        message = "Some fields need a correction."  # they are shown, here or at their inputs
    leftover = [  # what the problem's own message does not say already
        words if field == "body" else f"{field}: {words}"
        for field, words in unplaced
        if words not in message
    ]
    if exc.status == 409 and not exc.problems():  # a race the unique indexes decided
        field = "sku" if "sku" in message.lower() else "slug" if "slug" in message.lower() else ""
        if field and field in inputs:
            errors[field] = message
    return errors, " ".join([message, *leftover])


@router.get("")
async def product_list(
    request: Request,
    staff: CurrentStaff,
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(pattern="^(draft|active|archived)?$")] = "active",
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    page = await staff.get(
        "/products",
        q=q,
        status=status or "active",
        cursor=cursor,
        limit=25,
        sort="relevance" if q else "newest",
    )
    return render(
        request,
        "products/list.html",
        {
            **SECTION,
            "page": page,
            "form": {"q": q, "status": status},
            "statuses": forms.PRODUCT_STATUSES,
            "params": {"q": q, "status": status},
        },
        staff=staff,
    )


def _new_page(
    request: Request,
    staff: Staff,
    categories: list[tuple[str, str]],
    form: dict[str, Any],
    *,
    rows: int,
    errors: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "products/new.html",
        {
            **SECTION,
            "form": form,
            "errors": errors or {},
            "error": error,
            "rows": rows,
            "option_slots": range(forms.MAX_OPTIONS),
            "categories": categories,
            "statuses": forms.PRODUCT_STATUSES[:2],
        },
        staff=staff,
        status_code=status_code,
    )


@router.get("/new")
async def new_product(request: Request, staff: CurrentStaff) -> Response:
    categories = await _category_choices(staff)
    return _new_page(
        request, staff, categories, {"status": "draft"}, rows=forms.DEFAULT_VARIANT_ROWS
    )


@router.post("/new")
async def create_product(request: Request, staff: CurrentStaff, form: CheckedForm) -> Response:
    categories = await _category_choices(staff)
    values = dict(form)
    rows = forms.variant_rows(form)
    if form.get("action") == "more-rows":
        return _new_page(
            request, staff, categories, values, rows=forms.variant_rows(form, rows + 4)
        )
    try:
        body = forms.create_body(form)
        product = await staff.send("POST", "/products", body)
    except forms.FormProblems as problems:
        return _new_page(
            request,
            staff,
            categories,
            values,
            rows=rows,
            errors=problems.errors,
            error="Some fields need a correction.",
            status_code=422,
        )
    except ApiError as exc:
        errors, message = _refused(exc, forms.new_product_inputs(form), form)
        return _new_page(
            request,
            staff,
            categories,
            values,
            rows=rows,
            errors=errors,
            error=message,
            status_code=exc.status,
        )
    return redirect(f"/products/{product['id']}?notice=created")


async def detail_page(
    request: Request,
    staff: Staff,
    product_id: uuid.UUID,
    *,
    section: str = "",
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    """The product's page; ``section`` names the form (details, stock, a variant id)
    that was refused, whose ``form`` values and ``errors`` it shows again."""
    product = await staff.get(f"/products/{product_id}")
    inventory = await staff.get(f"/products/{product_id}/inventory")
    stock_by_variant = {v["variant_id"]: v for v in inventory["variants"]}
    details = (
        form if section == "details" and form is not None else forms.product_form_values(product)
    )
    return render(
        request,
        "products/detail.html",
        {
            **SECTION,
            "product": product,
            "inventory": inventory,
            "stock_by_variant": stock_by_variant,
            "variant_choices": [
                (v["id"], f"{v['title']} ({v['sku']})") for v in product["variants"]
            ],
            "categories": await _category_choices(staff),
            "statuses": forms.PRODUCT_STATUSES,
            "section": "Products",
            "refused": section,
            "form": details,
            "option_form": option_forms.option_form_values(product),
            "other_form": form if section != "details" and form is not None else {},
            "errors": errors or {},
            "error": error,
        },
        staff=staff,
        status_code=status_code,
    )


@router.get("/{product_id}")
async def product_detail(request: Request, staff: CurrentStaff, product_id: uuid.UUID) -> Response:
    return await detail_page(request, staff, product_id)


async def write(
    request: Request,
    staff: Staff,
    product_id: uuid.UUID,
    section: str,
    form: FormData,
    method: str,
    path: str,
    body_of: Any,
    notice: str,
    headers: dict[str, str] | None = None,
    where: InputFor | None = None,
) -> Response:
    """Sends the form's change; a refusal shows the page again with the form as typed
    and the API's errors next to their inputs (``where`` finds them, if the form's
    inputs are not named after the API's fields)."""
    try:
        body = body_of(form) if body_of else None
        await staff.send(method, path, body, headers=headers)
    except forms.FormProblems as problems:
        return await detail_page(
            request,
            staff,
            product_id,
            section=section,
            form=dict(form),
            errors=problems.errors,
            error="Some fields need a correction.",
            status_code=422,
        )
    except ApiError as exc:
        if exc.status == 404 and method == "DELETE":
            raise
        errors, message = _refused(exc, form.keys(), where=where)
        if exc.status == 412:
            return await detail_page(request, staff, product_id, error=STALE, status_code=412)
        return await detail_page(
            request,
            staff,
            product_id,
            section=section,
            form=dict(form),
            errors=errors,
            error=message,
            status_code=exc.status,
        )
    return redirect(f"/products/{product_id}?notice={notice}")


@router.post("/{product_id}")
async def update_product(
    request: Request, staff: CurrentStaff, form: CheckedForm, product_id: uuid.UUID
) -> Response:
    version = str(form.get("version", ""))
    return await write(
        request,
        staff,
        product_id,
        "details",
        form,
        "PATCH",
        f"/products/{product_id}",
        forms.update_body,
        "saved",
        headers={"if-match": f'"v{version}"'} if version.isdigit() else None,
    )


@router.post("/{product_id}/variants/{variant_id}")
async def update_variant(
    request: Request,
    staff: CurrentStaff,
    form: CheckedForm,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
) -> Response:
    version = str(form.get("version", ""))
    return await write(
        request,
        staff,
        product_id,
        str(variant_id),
        form,
        "PATCH",
        f"/products/{product_id}/variants/{variant_id}",
        forms.variant_update_body,
        "saved",
        headers={"if-match": f'"v{version}"'} if version.isdigit() else None,
    )


@router.post("/{product_id}/variants")
async def add_variant(
    request: Request, staff: CurrentStaff, form: CheckedForm, product_id: uuid.UUID
) -> Response:
    product = await staff.get(f"/products/{product_id}")
    return await write(
        request,
        staff,
        product_id,
        "new-variant",
        form,
        "POST",
        f"/products/{product_id}/variants",
        lambda values: forms.new_variant_body(values, product),
        "created",
    )


@router.post("/{product_id}/variants/{variant_id}/archive")
async def archive_variant(
    request: Request,
    staff: CurrentStaff,
    form: CheckedForm,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
) -> Response:
    path = f"/products/{product_id}/variants/{variant_id}"
    return await write(
        request, staff, product_id, str(variant_id), form, "DELETE", path, None, "archived"
    )


@router.post("/{product_id}/stock")
async def adjust_stock(
    request: Request, staff: CurrentStaff, form: CheckedForm, product_id: uuid.UUID
) -> Response:
    return await write(
        request,
        staff,
        product_id,
        "stock",
        form,
        "POST",
        f"/products/{product_id}/inventory/adjustments",
        forms.adjustment_body,
        "stock",
    )


@router.post("/{product_id}/archive")
async def archive_product(
    request: Request, staff: CurrentStaff, form: CheckedForm, product_id: uuid.UUID
) -> Response:
    return await write(
        request,
        staff,
        product_id,
        "archive",
        form,
        "DELETE",
        f"/products/{product_id}",
        None,
        "archived",
    )
