"""Customers: search by email, one customer with their orders, roles, deactivation.

The API has no ``GET /users/{id}``: a customer's page finds them by their email in
``GET /users?email=`` (the list links carry it) and keeps the one with the id.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shop.admin.api_client import ApiError
from shop.admin.sessions import Staff
from shop.admin.web import PREFIX, CheckedForm, CurrentStaff, redirect, render

router = APIRouter(prefix=PREFIX + "/customers", include_in_schema=False)
SECTION = {"section": "Customers"}


@router.get("")
async def customer_list(
    request: Request,
    staff: CurrentStaff,
    email: Annotated[str, Query(max_length=320)] = "",
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    page = await staff.get("/auth/users", email=email, cursor=cursor, limit=25)
    return render(
        request,
        "customers/list.html",
        {**SECTION, "page": page, "form": {"email": email}, "params": {"email": email}},
        staff=staff,
    )


async def _find(staff: Staff, user_id: uuid.UUID, email: str) -> dict[str, Any] | None:
    cursor = ""
    for _ in range(10):
        page = await staff.get("/auth/users", email=email, cursor=cursor, limit=100)
        for user in page["items"]:
            if user["id"] == str(user_id):
                found: dict[str, Any] = user
                return found
        cursor = page["next_cursor"] or ""
        if not cursor:
            break
    return None


async def _detail_page(
    request: Request,
    staff: Staff,
    user_id: uuid.UUID,
    email: str,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    user = await _find(staff, user_id, email)
    if user is None:
        raise ApiError(404, "Customer not found", "No customer has this id and email.")
    orders = await staff.get("/orders", user_id=str(user_id), limit=25)
    return render(
        request,
        "customers/detail.html",
        {**SECTION, "customer": user, "orders": orders, "error": error},
        staff=staff,
        status_code=status_code,
    )


@router.get("/{user_id}")
async def customer_detail(
    request: Request,
    staff: CurrentStaff,
    user_id: uuid.UUID,
    email: Annotated[str, Query(max_length=320)] = "",
) -> Response:
    return await _detail_page(request, staff, user_id, email)


@router.post("/{user_id}")
async def update_customer(
    request: Request, staff: CurrentStaff, form: CheckedForm, user_id: uuid.UUID
) -> Response:
    email = str(form.get("email", ""))
    body: dict[str, Any] = {}
    if form.get("change") == "roles":
        body["roles"] = ["customer", "admin"] if form.get("admin") else ["customer"]
    elif form.get("change") in ("deactivate", "reactivate"):
        body["is_active"] = form.get("change") == "reactivate"
    try:
        await staff.send("PATCH", f"/auth/users/{user_id}", body)
    except ApiError as exc:
        return await _detail_page(
            request, staff, user_id, email, error=exc.message(), status_code=exc.status
        )
    return redirect(f"/customers/{user_id}?{_query(email)}&notice=saved")


def _query(email: str) -> str:
    return urlencode({"email": email})
