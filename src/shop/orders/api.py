"""Routes of the orders service, under ``/api/v1/orders``."""

from typing import Any

from fastapi import APIRouter

from shop.kit.identity import CurrentUser

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


@router.get(
    "",
    summary="Your orders, newest first",
    responses={401: {"description": "No valid access token"}},
)
async def list_orders(identity: CurrentUser) -> dict[str, Any]:
    # Order placement is not built yet, so nobody has an order: the page is empty.
    return {"items": [], "next_cursor": None}
