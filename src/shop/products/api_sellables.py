"""The internal look-up of sellable units, for the orders service's carts only (service
token, like the reservation API; never routed by the gateway)."""

from __future__ import annotations

from fastapi import APIRouter

from shop.kit.contracts.sellables import PATH, SellablesIn, SellablesOut
from shop.kit.db import Session
from shop.kit.errors import problem_responses
from shop.kit.service_auth import ServiceCaller
from shop.products import sellables
from shop.products.api_internal import SERVICE_AUTH

router = APIRouter(prefix=PATH, tags=["internal: sellables"])


@router.post(
    "",
    summary="Current prices, names and stock of many variants at once (reads only)",
    responses=problem_responses(
        descriptions={**SERVICE_AUTH, 422: "Invalid body: 1-100 references (problem)"}
    ),
)
async def look_up(body: SellablesIn, caller: ServiceCaller, session: Session) -> SellablesOut:
    return await sellables.look_up(session, body.refs)
