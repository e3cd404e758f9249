"""Orders: the list by status and payment, one order with its history and payment,
ship, deliver, cancel, mark paid, refund."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shop.admin.api_client import ApiError
from shop.admin.sessions import Staff
from shop.admin.web import PREFIX, CheckedForm, CurrentStaff, minor_units, redirect, render

router = APIRouter(prefix=PREFIX + "/orders", include_in_schema=False)
SECTION = {"section": "Orders"}
STATUSES = [
    (s, s.capitalize()) for s in ("pending", "confirmed", "shipped", "delivered", "cancelled")
]
PAYMENT_STATUSES = [
    ("awaiting", "Awaiting payment"),
    ("paid", "Paid"),
    ("partially_refunded", "Partially refunded"),
    ("refunded", "Refunded"),
    ("not_required", "Nothing to pay"),
]


@router.get("")
async def order_list(
    request: Request,
    staff: CurrentStaff,
    status: Annotated[
        str, Query(pattern="^(pending|confirmed|shipped|delivered|cancelled)?$")
    ] = "",
    payment_status: Annotated[
        str, Query(pattern="^(awaiting|paid|partially_refunded|refunded|not_required)?$")
    ] = "",
    user_id: Annotated[uuid.UUID | None, Query()] = None,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    page = await staff.get(
        "/orders",
        status=status,
        payment_status=payment_status,
        user_id=str(user_id) if user_id else "",
        cursor=cursor,
        limit=25,
    )
    params = {
        **({"status": status} if status else {}),
        **({"payment_status": payment_status} if payment_status else {}),
        **({"user_id": str(user_id)} if user_id else {}),
    }
    return render(
        request,
        "orders/list.html",
        {
            **SECTION,
            "page": page,
            "form": {"status": status, "payment_status": payment_status},
            "statuses": STATUSES,
            "payment_statuses": PAYMENT_STATUSES,
            "params": params,
        },
        staff=staff,
    )


async def _detail_page(
    request: Request,
    staff: Staff,
    order_id: uuid.UUID,
    *,
    action: str = "",
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    order = await staff.get(f"/orders/{order_id}")
    return render(
        request,
        "orders/detail.html",
        {
            **SECTION,
            "order": order,
            "refundable": refundable(order),
            # A new key for each refund form shown: the form sent twice refunds once.
            "refund_key": secrets.token_urlsafe(16),
            "refused": action,
            "form": form or {},
            "errors": errors or {},
            "error": error,
        },
        staff=staff,
        status_code=status_code,
    )


def refundable(order: dict[str, Any]) -> int:
    """What is left to refund: what was paid, less every refund not failed."""
    payment = order.get("payment") or {}
    if order.get("payment_status") not in ("paid", "partially_refunded"):
        return 0
    given = sum(int(r["amount"]) for r in order.get("refunds", []) if r["status"] != "failed")
    return max(int(payment.get("amount", 0)) - given, 0)


@router.get("/{order_id}")
async def order_detail(request: Request, staff: CurrentStaff, order_id: uuid.UUID) -> Response:
    return await _detail_page(request, staff, order_id)


async def _act(
    request: Request,
    staff: Staff,
    order_id: uuid.UUID,
    action: str,
    form: dict[str, Any],
    path: str,
    body: dict[str, Any] | None,
    notice: str,
) -> Response:
    try:
        await staff.send("POST", f"/orders/{order_id}{path}", body)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _detail_page(
            request,
            staff,
            order_id,
            action=action,
            form=form,
            errors=exc.field_errors(),
            error=exc.message(),
            status_code=exc.status,
        )
    return redirect(f"/orders/{order_id}?notice={notice}")


def _text(form: CheckedForm, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/{order_id}/ship")
async def ship(
    request: Request, staff: CurrentStaff, form: CheckedForm, order_id: uuid.UUID
) -> Response:
    tracking = _text(form, "tracking_number")
    values = dict(form)
    if not tracking:
        return await _detail_page(
            request,
            staff,
            order_id,
            action="ship",
            form=values,
            errors={"tracking_number": "Enter the carrier's tracking number."},
            error="The order was not marked as shipped.",
            status_code=422,
        )
    body: dict[str, Any] = {"status": "shipped", "tracking_number": tracking}
    if _text(form, "note"):
        body["note"] = _text(form, "note")
    return await _act(request, staff, order_id, "ship", values, "/status", body, "shipped")


@router.post("/{order_id}/deliver")
async def deliver(
    request: Request, staff: CurrentStaff, form: CheckedForm, order_id: uuid.UUID
) -> Response:
    body = {"status": "delivered"}
    return await _act(request, staff, order_id, "deliver", dict(form), "/status", body, "delivered")


@router.post("/{order_id}/cancel")
async def cancel(
    request: Request, staff: CurrentStaff, form: CheckedForm, order_id: uuid.UUID
) -> Response:
    return await _act(request, staff, order_id, "cancel", dict(form), "/cancel", None, "cancelled")


@router.post("/{order_id}/mark-paid")
async def mark_paid(
    request: Request, staff: CurrentStaff, form: CheckedForm, order_id: uuid.UUID
) -> Response:
    path = "/payment/mark-paid"
    return await _act(request, staff, order_id, "mark-paid", dict(form), path, None, "paid")


@router.post("/{order_id}/refund")
async def refund(
    request: Request, staff: CurrentStaff, form: CheckedForm, order_id: uuid.UUID
) -> Response:
    values = dict(form)
    amount_text, reason = _text(form, "amount"), _text(form, "reason")
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"reason": reason}
    if amount_text:
        try:
            body["amount"] = minor_units(amount_text)
        except ValueError as exc:
            errors["amount"] = str(exc)
        else:
            if body["amount"] <= 0:
                errors["amount"] = "Enter an amount above 0, or leave it empty to refund the rest."
    if not reason:
        errors["reason"] = "Say why the money is given back (the customer's email says it)."
    if errors:
        return await _detail_page(
            request,
            staff,
            order_id,
            action="refund",
            form=values,
            errors=errors,
            error="Nothing was refunded.",
            status_code=422,
        )
    key = _text(form, "refund_key")
    headers = {"Idempotency-Key": f"dashboard-refund-{key}"} if key else None
    try:
        made = await staff.send("POST", f"/orders/{order_id}/refunds", body, headers=headers)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _detail_page(
            request,
            staff,
            order_id,
            action="refund",
            form=values,
            errors=exc.field_errors(),
            error=exc.message(),
            status_code=exc.status,
        )
    notice = {"succeeded": "refunded", "failed": "refund-failed"}.get(
        made["status"], "refund-pending"
    )
    return redirect(f"/orders/{order_id}?notice={notice}")
