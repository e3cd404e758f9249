"""Customers: search by email, one customer (``GET /auth/users/{id}``) with their
orders (``GET /orders?user_id=``), their roles and deactivation
(``PATCH /auth/users/{id}``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shop.admin.api_client import ApiError
from shop.admin.sessions import Staff
from shop.admin.web import PREFIX, CheckedForm, CurrentStaff, redirect, render

router = APIRouter(prefix=PREFIX + "/customers", include_in_schema=False)
SECTION = {"section": "Customers"}
ORDERS_SHOWN = 10


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


async def _detail_page(
    request: Request,
    staff: Staff,
    user_id: uuid.UUID,
    *,
    refused: str = "",
    form: dict[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    """The customer's page; ``refused`` names the form ("roles", "account") the API
    refused, shown again with ``form``'s values and ``error`` beside it."""
    customer = await staff.get(f"/auth/users/{user_id}")
    orders = await staff.get("/orders", user_id=str(user_id), limit=ORDERS_SHOWN)
    roles = form if refused == "roles" and form is not None else _role_values(customer)
    return render(
        request,
        "customers/detail.html",
        {
            **SECTION,
            "customer": customer,
            "orders": orders,
            "roles_form": roles,
            "refused": refused,
            "error": error,
        },
        staff=staff,
        status_code=status_code,
    )


def _role_values(customer: dict[str, Any]) -> dict[str, str]:
    return {"admin": "on"} if "admin" in customer["roles"] else {}


@router.get("/{user_id}")
async def customer_detail(request: Request, staff: CurrentStaff, user_id: uuid.UUID) -> Response:
    return await _detail_page(request, staff, user_id)


CHANGES = {"roles": "roles", "deactivate": "account", "reactivate": "account"}


@router.post("/{user_id}")
async def update_customer(
    request: Request, staff: CurrentStaff, form: CheckedForm, user_id: uuid.UUID
) -> Response:
    change = str(form.get("change", ""))
    if change not in CHANGES:
        return await _detail_page(
            request,
            staff,
            user_id,
            refused="roles",
            form=dict(form),
            error="This form asks for no change the dashboard knows. Reload the page.",
            status_code=422,
        )
    if change == "roles":
        body: dict[str, Any] = {
            "roles": ["customer", "admin"] if form.get("admin") else ["customer"]
        }
    else:
        body = {"is_active": change == "reactivate"}
    try:
        await staff.send("PATCH", f"/auth/users/{user_id}", body)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _detail_page(
            request,
            staff,
            user_id,
            refused=CHANGES[change],
            form=dict(form),
            error=exc.message(),
            status_code=exc.status,
        )
    return redirect(f"/customers/{user_id}?notice=saved")
