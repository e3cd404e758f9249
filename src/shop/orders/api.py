"""Routes of the orders service, under ``/api/v1/orders``: parse, call a use case, respond."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from shop.kit.db import Session, unit_of_work
from shop.kit.errors import PROBLEM_CONTENT_TYPE, problem_responses
from shop.kit.identity import (
    AdminUser,
    AuthenticationRequiredError,
    CurrentUser,
    OptionalUser,
    VerifiedUser,
)
from shop.orders import cancellation, idempotency, online_placement, payments, placement, service
from shop.orders.context import Orders
from shop.orders.idempotency import Answer
from shop.orders.models import OrderStatus, PaymentStatus
from shop.orders.presenters import order_out
from shop.orders.schemas import OrderOut, OrderPage, PlaceOrderIn, StatusChangeIn

PREFIX = "/api/v1/orders"
# Added to how long a request may take, for its Idempotency-Key's lease: the time to
# store its answer (also across a short database outage) and clocks' drift.
LEASE_MARGIN_SECONDS = 30.0
router = APIRouter(prefix=PREFIX, tags=["orders"])


def get_orders(request: Request) -> Orders:
    orders: Orders = request.app.state.orders
    return orders


OrdersContext = Annotated[Orders, Depends(get_orders)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Repeat a request safely: the same key and body get the first answer.",
    ),
]


def respond(answer: Answer) -> Response:
    headers: dict[str, str] = {}
    media_type = "application/json"
    if answer.status >= 400:
        media_type = PROBLEM_CONTENT_TYPE
    elif answer.status == 201:
        headers["Location"] = f"{PREFIX}/{answer.body['id']}"
    return Response(
        orjson.dumps(answer.body), status_code=answer.status, media_type=media_type, headers=headers
    )


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    summary="Place an order (prices come from the catalog)",
    responses=problem_responses(401, 403, 409, 422, 503),
)
async def place_order(
    body: PlaceOrderIn,
    identity: VerifiedUser,
    orders: OrdersContext,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def place(lease: idempotency.Lease | None) -> Answer:
        return online_placement.placed_answer(
            await placement.place_order(orders, identity, body, lease)
        )

    async def settle(order_id: uuid.UUID) -> Answer:
        return online_placement.placed_answer(await placement.settle(orders, order_id))

    settings = orders.settings
    answer = await idempotency.run_once(
        orders.sessionmaker,
        user_id=identity.user_id,
        key=idempotency_key,
        scope="place",
        request=body.idempotency_request(),
        ttl=settings.idempotency_ttl_seconds,
        # Past the placement deadline the reconciler cancels an order still pending: the
        # request can no longer place it.
        lease=settings.placement_deadline_seconds + LEASE_MARGIN_SECONDS,
        action=place,
        settle=settle,
    )
    return respond(answer)


@router.get(
    "",
    summary="Orders, newest first: your own, or any for an admin",
    responses=problem_responses(400, 401, 403, 422),
)
async def list_orders(
    identity: CurrentUser,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Admins only")] = None,
    status: OrderStatus | None = None,
    payment_status: PaymentStatus | None = None,
) -> OrderPage:
    page, next_cursor = await service.list_orders(
        session, identity, limit, cursor, user_id, status, payment_status
    )
    return OrderPage(
        items=[order_out(order, to_owner=order.user_id == identity.user_id) for order in page],
        next_cursor=next_cursor,
    )


@router.get(
    "/{order_id}",
    summary="One order: yours (or any, for an admin), or a guest's with its X-Order-Token",
    responses=problem_responses(401, 404, 422),
)
async def get_order(
    order_id: uuid.UUID,
    identity: OptionalUser,
    orders: OrdersContext,
    order_token: Annotated[
        str | None,
        Header(
            alias="X-Order-Token",
            max_length=100,
            description="A guest order's secret, answered once at checkout",
        ),
    ] = None,
) -> OrderOut:
    if identity is None and order_token is None:
        raise AuthenticationRequiredError()
    async with unit_of_work(orders.sessionmaker) as session:
        order = await service.get_order(session, identity, order_id, order_token)
    owner = service.is_owner(order, identity, order_token)
    # The customer back from paying: the provider is asked at once (its webhook may come
    # later, or never). No transaction is open meanwhile.
    if owner and payments.awaits_online(order) and await payments.refresh(orders, order_id):
        async with unit_of_work(orders.sessionmaker) as session:
            order = await service.get_order(session, identity, order_id, order_token)
    return order_out(order, to_owner=owner)


@router.post(
    "/{order_id}/cancel",
    response_model=OrderOut,
    summary="Cancel an order that has not shipped; its stock goes back",
    responses=problem_responses(401, 404, 409, 422),
)
async def cancel_order(
    order_id: uuid.UUID,
    identity: CurrentUser,
    orders: OrdersContext,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def cancel(_: idempotency.Lease | None) -> Answer:
        order = await cancellation.cancel_order(orders, identity, order_id)
        to_owner = order.user_id == identity.user_id
        return Answer(200, order_out(order, to_owner=to_owner).model_dump(mode="json"))

    answer = await idempotency.run_once(
        orders.sessionmaker,
        user_id=identity.user_id,
        key=idempotency_key,
        scope=f"cancel:{order_id}",
        request={},
        ttl=orders.settings.idempotency_ttl_seconds,
        # One cancel and one call to products (bounded by its deadline).
        lease=orders.settings.products_deadline_seconds + LEASE_MARGIN_SECONDS,
        action=cancel,
    )
    return respond(answer)


@router.post(
    "/{order_id}/status",
    summary="Mark an order shipped (with a tracking number) or delivered",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def change_status(
    order_id: uuid.UUID,
    body: StatusChangeIn,
    admin: AdminUser,
    session: Session,
    orders: OrdersContext,
) -> OrderOut:
    order = await service.change_status(session, orders.emails, admin, order_id, body)
    return order_out(order)
