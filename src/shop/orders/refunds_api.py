"""Routes of an order's money, under ``/api/v1/orders``: refunds and marking a manual
payment received (admins only)."""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Response

from shop.kit.db import Session
from shop.kit.errors import PROBLEM_CONTENT_TYPE, problem_responses
from shop.kit.identity import AdminUser
from shop.orders import idempotency, manual_payments, refunds
from shop.orders.api import LEASE_MARGIN_SECONDS, PREFIX, IdempotencyKey, OrdersContext
from shop.orders.context import actor_of
from shop.orders.idempotency import Answer
from shop.orders.presenters import order_out, refund_out
from shop.orders.schemas import OrderOut, RefundIn, RefundOut

router = APIRouter(prefix=PREFIX, tags=["orders"])
PROVIDER_CALL_SECONDS = 60.0
# The refund a key asks for has an id made from the key: a request repeated after its
# first died (its lease ended) finds that refund and finishes it, never a second one.
REFUND_IDS = uuid.UUID("0b6d7c1e-4f8a-4e55-9a51-2f3c6d1e8b70")


def refund_id_for(admin_id: uuid.UUID, order_id: uuid.UUID, key: str) -> uuid.UUID:
    return uuid.uuid5(REFUND_IDS, f"{admin_id}:{order_id}:{key}")


@router.post(
    "/{order_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    summary="Refund a paid order, in part or (without an amount) all that is left",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def refund_order(
    order_id: uuid.UUID,
    body: RefundIn,
    admin: AdminUser,
    orders: OrdersContext,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def give_back(_: idempotency.Lease | None) -> Answer:
        made = await refunds.refund(
            orders,
            order_id,
            amount=body.amount,
            reason=body.reason,
            actor=actor_of(admin),
            refund_id=(
                None
                if idempotency_key is None
                else refund_id_for(admin.user_id, order_id, idempotency_key)
            ),
        )
        return Answer(201, refund_out(made).model_dump(mode="json"))

    answer = await idempotency.run_once(
        orders.sessionmaker,
        user_id=admin.user_id,
        key=idempotency_key,
        scope=f"refund:{order_id}",
        request=body.model_dump(mode="json"),
        ttl=orders.settings.idempotency_ttl_seconds,
        # Two short transactions and one call to the provider (its timeout and retries).
        # A repeat after the lease finishes the same refund (its id comes from the key).
        lease=PROVIDER_CALL_SECONDS + LEASE_MARGIN_SECONDS,
        action=give_back,
    )
    media_type = PROBLEM_CONTENT_TYPE if answer.status >= 400 else "application/json"
    return Response(orjson.dumps(answer.body), status_code=answer.status, media_type=media_type)


@router.post(
    "/{order_id}/payment/mark-paid",
    response_model=OrderOut,
    summary="Mark a manual order's payment received (again: nothing changes)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def mark_paid(
    order_id: uuid.UUID, admin: AdminUser, session: Session, orders: OrdersContext
) -> OrderOut:
    return order_out(await manual_payments.mark_paid(session, orders.emails, admin, order_id))
