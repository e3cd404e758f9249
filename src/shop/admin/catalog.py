"""Categories: the tree as a list, create, rename or move, delete."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from shop.admin.api_client import ApiError
from shop.admin.sessions import Staff
from shop.admin.web import PREFIX, CheckedForm, CurrentStaff, redirect, render

router = APIRouter(prefix=PREFIX + "/categories", include_in_schema=False)


def _ordered(categories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Depth first, children under their parent, each with its ``depth``."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for category in categories:
        children.setdefault(category["parent_id"], []).append(category)
    ordered: list[dict[str, Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for category in sorted(children.get(parent, []), key=lambda c: c["name"].lower()):
            ordered.append({**category, "depth": depth})
            walk(category["id"], depth + 1)

    walk(None, 0)
    return ordered


async def _page(
    request: Request,
    staff: Staff,
    *,
    refused: str = "",
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    categories = _ordered((await staff.get("/categories"))["items"])
    return render(
        request,
        "categories.html",
        {
            "section": "Categories",
            "categories": categories,
            "parents": [(c["id"], "— " * c["depth"] + c["name"]) for c in categories],
            "refused": refused,
            "form": form or {},
            "errors": errors or {},
            "error": error,
        },
        staff=staff,
        status_code=status_code,
    )


@router.get("")
async def categories(request: Request, staff: CurrentStaff) -> Response:
    return await _page(request, staff)


def _body(form: CheckedForm) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in ("name", "slug", "parent_id"):
        value = form.get(name)
        text = value.strip() if isinstance(value, str) else ""
        if text:
            body[name] = text
        elif name == "parent_id":
            body[name] = None
    return body


async def _write(
    request: Request,
    staff: Staff,
    form: CheckedForm,
    refused: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    notice: str,
) -> Response:
    try:
        await staff.send(method, path, body)
    except ApiError as exc:
        return await _page(
            request,
            staff,
            refused=refused,
            form=dict(form),
            errors=exc.field_errors(),
            error=exc.message(),
            status_code=exc.status,
        )
    return redirect(f"/categories?notice={notice}")


@router.post("")
async def create_category(request: Request, staff: CurrentStaff, form: CheckedForm) -> Response:
    return await _write(request, staff, form, "new", "POST", "/categories", _body(form), "created")


@router.post("/{category_id}")
async def update_category(
    request: Request, staff: CurrentStaff, form: CheckedForm, category_id: uuid.UUID
) -> Response:
    path = f"/categories/{category_id}"
    return await _write(request, staff, form, str(category_id), "PATCH", path, _body(form), "saved")


@router.post("/{category_id}/delete")
async def delete_category(
    request: Request, staff: CurrentStaff, form: CheckedForm, category_id: uuid.UUID
) -> Response:
    path = f"/categories/{category_id}"
    return await _write(request, staff, form, str(category_id), "DELETE", path, None, "deleted")
