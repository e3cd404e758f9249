"""The internal reservation API, for the orders service only.

It lives under ``/internal/v1``, which the gateway never routes, and every
call must present the service token (``X-Service-Token``, see
:mod:`shop.kit.service_auth`); a user's bearer token grants nothing here.
The rules of reserving, committing and releasing are in
:mod:`shop.products.reservations`; the bodies and problem types are the
contract's (:mod:`shop.kit.contracts.reservations`), which the orders service
parses too.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from shop.kit.contracts.reservations import PREFIX, ReservationOut, ReserveIn
from shop.kit.db import Session
from shop.kit.errors import problem_responses
from shop.kit.service_auth import ServiceCaller
from shop.products import reservations
from shop.products.cache import CatalogCache
from shop.products.config import ProductsSettings
from shop.products.search import indexes_stock

router = APIRouter(prefix=PREFIX, tags=["internal: reservations"])


# Every route may answer these; problem_responses(descriptions={**SERVICE_AUTH, ...}).
SERVICE_AUTH = {
    401: "Missing or wrong X-Service-Token (problem)",
    503: "No service token is configured: the internal API is closed (problem)",
}


def _cache(request: Request) -> CatalogCache | None:
    cache = getattr(request.app.state, "cache", None)
    return cache if isinstance(cache, CatalogCache) else None


def _notify_search(request: Request) -> bool:
    settings: ProductsSettings = request.app.state.settings
    return indexes_stock(settings)


@router.put(
    "/{order_id}",
    status_code=201,
    summary="Reserve an order's lines, all or nothing (and commit them at once if asked);"
    " a repeat replays the first answer",
    responses={
        200: {"model": ReservationOut, "description": "A repeat: the stored reservation"},
        **problem_responses(
            descriptions={
                **SERVICE_AUTH,
                409: "Not enough stock (`insufficient-stock`, `errors: [{product_id, variant_id, "
                "requested, available}]`), the order was released (`reservation-released`) or "
                "reserved with other lines (`reservation-mismatch`) (problem)",
                422: "Invalid body, unknown or non-active products or variants "
                "(`products-not-orderable`, `errors: [{field, message, product_id, variant_id, "
                "reason}]`), or a product with several variants named without one "
                "(`variant-required`, the same errors)",
            }
        ),
    },
)
async def reserve(
    order_id: uuid.UUID,
    body: ReserveIn,
    caller: ServiceCaller,
    session: Session,
    request: Request,
    response: Response,
) -> ReservationOut:
    settings: ProductsSettings = request.app.state.settings
    outcome = await reservations.reserve(
        session,
        order_id,
        [
            reservations.WantedLine(
                quantity=line.quantity, product_id=line.product_id, variant_id=line.variant_id
            )
            for line in body.lines
        ],
        ttl=timedelta(seconds=body.hold_seconds or settings.reservation_ttl_seconds),
        actor=caller.actor,
        cache=_cache(request),
        notify_search=_notify_search(request),
        commit_now=body.commit,
    )
    response.status_code = 201 if outcome.created else 200
    return ReservationOut.model_validate(outcome.reservation, from_attributes=True)


@router.post(
    "/{order_id}/commit",
    summary="The held units leave the shelf (idempotent)",
    responses=problem_responses(
        descriptions={
            **SERVICE_AUTH,
            404: "No reservation for this order (problem)",
            409: "Released (`reservation-released`) or expired (`reservation-expired`) (problem)",
        }
    ),
)
async def commit(
    order_id: uuid.UUID, caller: ServiceCaller, session: Session, request: Request
) -> ReservationOut:
    view = await reservations.commit(
        session,
        order_id,
        caller.actor,
        cache=_cache(request),
        notify_search=_notify_search(request),
    )
    return ReservationOut.model_validate(view, from_attributes=True)


@router.post(
    "/{order_id}/release",
    summary="Give the held units back (idempotent); an unknown order is recorded as released",
    responses=problem_responses(
        descriptions={**SERVICE_AUTH, 409: "Already committed (`reservation-committed`) (problem)"}
    ),
)
async def release(
    order_id: uuid.UUID, caller: ServiceCaller, session: Session, request: Request
) -> ReservationOut:
    view = await reservations.release(
        session,
        order_id,
        caller.actor,
        cache=_cache(request),
        notify_search=_notify_search(request),
    )
    return ReservationOut.model_validate(view, from_attributes=True)


@router.post(
    "/{order_id}/restock",
    summary="Give back all of a cancelled order's units, held or committed (idempotent)",
    responses=problem_responses(descriptions=SERVICE_AUTH),
)
async def restock(
    order_id: uuid.UUID, caller: ServiceCaller, session: Session, request: Request
) -> ReservationOut:
    view = await reservations.restock(
        session,
        order_id,
        caller.actor,
        cache=_cache(request),
        notify_search=_notify_search(request),
    )
    return ReservationOut.model_validate(view, from_attributes=True)


@router.get(
    "/{order_id}",
    summary="An order's reservation",
    responses=problem_responses(
        descriptions={**SERVICE_AUTH, 404: "No reservation for this order (problem)"}
    ),
)
async def get_reservation(
    order_id: uuid.UUID, caller: ServiceCaller, session: Session
) -> ReservationOut:
    view = await reservations.get_reservation(session, order_id)
    return ReservationOut.model_validate(view, from_attributes=True)
