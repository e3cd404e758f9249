"""The overview: today's orders and revenue, orders awaiting payment, orders to ship,
stock running out.

The API has no report endpoints, so the figures are read from its lists: today's
orders from the newest-first order list (paged until yesterday, at most
``MAX_PAGES`` pages), orders awaiting payment from those whose ``payment_status`` is
``awaiting`` (counted up to a page of ``PAGE``), orders to ship from the confirmed
ones, the number of active products with none left (``in_stock=false``), and the
variants at or under a threshold (``ADMIN_LOW_STOCK_THRESHOLD``, or the page's own) from
``GET /inventory/low-stock``, fewest first, paged with its cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from shop.admin.sessions import Staff
from shop.admin.web import PREFIX, CurrentStaff, render, settings_of

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_PAGES = 10
PAGE = 100
LOW_STOCK_PAGE = 20
MAX_THRESHOLD = 1_000_000  # the API's


async def _todays_orders(staff: Staff) -> tuple[list[dict[str, Any]], bool]:
    """Today's orders (UTC), and whether there were more than could be read."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    found: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(MAX_PAGES):
        page = await staff.get("/orders", limit=PAGE, cursor=cursor)
        for order in page["items"]:
            placed = datetime.fromisoformat(order["created_at"].replace("Z", "+00:00"))
            if placed < midnight:
                return found, False
            found.append(order)
        cursor = page["next_cursor"] or ""
        if not cursor:
            return found, False
    return found, True


def _revenue(orders: list[dict[str, Any]]) -> dict[str, int]:
    """Totals of the orders not cancelled, by currency."""
    totals: dict[str, int] = {}
    for order in orders:
        if order["status"] != "cancelled" and order.get("currency"):
            totals[order["currency"]] = totals.get(order["currency"], 0) + order["total"]
    return totals


def _threshold(text: str, default: int) -> tuple[int, dict[str, str]]:
    """The page's low-stock threshold, or the setting's with a word why not."""
    if not text.strip():
        return default, {}
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_THRESHOLD:
        return default, {"threshold": f"Enter a whole number from 0 to {MAX_THRESHOLD:,}."}
    return value, {}


@router.get("/")
async def overview(
    request: Request,
    staff: CurrentStaff,
    threshold: Annotated[str, Query(max_length=20)] = "",
    stock_cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    limit, errors = _threshold(threshold, settings_of(request).admin_low_stock_threshold)
    today, more = await _todays_orders(staff)
    awaiting = await staff.get("/orders", payment_status="awaiting", limit=PAGE)
    to_ship = await staff.get("/orders", status="confirmed", limit=10)
    sold_out = await staff.get("/products", status="active", in_stock="false", limit=1)
    low_stock = await staff.get(
        "/inventory/low-stock",
        threshold=limit,
        limit=LOW_STOCK_PAGE,
        cursor="" if errors else stock_cursor,
    )
    return render(
        request,
        "overview.html",
        {
            "section": "Overview",
            "today": today,
            "today_more": more,
            "revenue": _revenue(today),
            "awaiting": awaiting,
            "to_ship": to_ship,
            "sold_out": sold_out,
            "low_stock": low_stock,
            "threshold": limit,
            "form": {"threshold": threshold or str(limit)},
            "errors": errors,
            "stock_params": {"threshold": limit},
        },
        staff=staff,
    )
