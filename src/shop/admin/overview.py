"""The overview: today's orders and revenue, orders awaiting payment, orders to ship,
stock running out.

The API has no report endpoints, so the figures are read from its lists: today's
orders from the newest-first order list (paged until yesterday, at most
``MAX_PAGES`` pages), orders awaiting payment from those whose ``payment_status`` is
``awaiting`` (counted up to a page of ``PAGE``), orders to ship from the confirmed
ones, and stock from the active products with none left (``in_stock=false``) and the
variants at or under ``ADMIN_LOW_STOCK_THRESHOLD`` among the newest active products.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from shop.admin.sessions import Staff
from shop.admin.web import PREFIX, CurrentStaff, render, settings_of

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_PAGES = 10
PAGE = 100


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


async def _low_stock(staff: Staff, threshold: int) -> list[dict[str, Any]]:
    page = await staff.get("/products", status="active", sort="newest", limit=100)
    low = []
    for product in page["items"]:
        for variant in product["variants"]:
            if variant["status"] == "active" and 0 < variant["available"] <= threshold:
                low.append({"product": product, "variant": variant})
    return low


@router.get("/")
async def overview(request: Request, staff: CurrentStaff) -> Response:
    today, more = await _todays_orders(staff)
    awaiting = await staff.get("/orders", payment_status="awaiting", limit=PAGE)
    to_ship = await staff.get("/orders", status="confirmed", limit=10)
    sold_out = await staff.get("/products", status="active", in_stock="false", limit=10)
    threshold = settings_of(request).admin_low_stock_threshold
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
            "low_stock": await _low_stock(staff, threshold),
            "threshold": threshold,
        },
        staff=staff,
    )
