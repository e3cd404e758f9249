"""Routes of carts, under ``/api/v1/carts``: parse, call a use case, respond.

A bearer token is optional: with one, the caller is that user (a user's cart answers
only them); without, the caller holds a guest cart's id, its only key."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Response

from shop.kit.errors import problem_responses
from shop.kit.identity import CurrentUser, OptionalUser
from shop.orders import carts, checkout, idempotency, online_placement, placement
from shop.orders.api import LEASE_MARGIN_SECONDS, IdempotencyKey, OrdersContext, respond
from shop.orders.cart_schemas import (
    CartIn,
    CartItemIn,
    CartOut,
    CheckedOutOut,
    CheckoutIn,
    EmailIn,
    MergeIn,
    PromotionIn,
    QuantityIn,
    ShippingMethodIn,
    ShippingOptionsOut,
)
from shop.orders.schemas import AddressIn

PREFIX = "/api/v1/carts"
router = APIRouter(prefix=PREFIX, tags=["carts"])
CART_ERRORS = problem_responses(401, 404, 409, 422, 503)


@router.post(
    "",
    status_code=201,
    summary="A new cart (a user's with a bearer token)",
    responses=problem_responses(401, 422),
)
async def create_cart(
    identity: OptionalUser, orders: OrdersContext, body: Annotated[CartIn | None, Body()] = None
) -> CartOut:
    return (await carts.create_cart(orders, identity, body or CartIn())).out


@router.get("/{cart_id}", summary="A cart at the catalog's current prices", responses=CART_ERRORS)
async def get_cart(cart_id: uuid.UUID, identity: OptionalUser, orders: OrdersContext) -> CartOut:
    return (await carts.read_cart(orders, identity, cart_id)).out


@router.post(
    "/{cart_id}/items",
    summary="Add a variant (the same one again adds to its line)",
    responses=CART_ERRORS,
)
async def add_item(
    cart_id: uuid.UUID, body: CartItemIn, identity: OptionalUser, orders: OrdersContext
) -> CartOut:
    return (await carts.add_item(orders, identity, cart_id, body)).out


@router.patch(
    "/{cart_id}/items/{item_id}", summary="Change a quantity (0 removes)", responses=CART_ERRORS
)
async def set_quantity(
    cart_id: uuid.UUID,
    item_id: uuid.UUID,
    body: QuantityIn,
    identity: OptionalUser,
    orders: OrdersContext,
) -> CartOut:
    return (await carts.set_quantity(orders, identity, cart_id, item_id, body.quantity)).out


@router.delete("/{cart_id}/items/{item_id}", summary="Remove a line", responses=CART_ERRORS)
async def remove_item(
    cart_id: uuid.UUID, item_id: uuid.UUID, identity: OptionalUser, orders: OrdersContext
) -> CartOut:
    return (await carts.remove_item(orders, identity, cart_id, item_id)).out


@router.put("/{cart_id}/email", summary="The email the order will go to", responses=CART_ERRORS)
async def set_email(
    cart_id: uuid.UUID, body: EmailIn, identity: OptionalUser, orders: OrdersContext
) -> CartOut:
    return (await carts.set_email(orders, identity, cart_id, str(body.email))).out


@router.put("/{cart_id}/shipping-address", summary="Where to ship", responses=CART_ERRORS)
async def set_address(
    cart_id: uuid.UUID, body: AddressIn, identity: OptionalUser, orders: OrdersContext
) -> CartOut:
    return (await carts.set_address(orders, identity, cart_id, body)).out


@router.get(
    "/{cart_id}/shipping-options",
    summary="The methods offered for the cart's address, priced for its subtotal",
    responses=CART_ERRORS,
)
async def shipping_options(
    cart_id: uuid.UUID, identity: OptionalUser, orders: OrdersContext
) -> ShippingOptionsOut:
    return ShippingOptionsOut(items=await carts.options(orders, identity, cart_id))


@router.put(
    "/{cart_id}/shipping-method",
    summary="Choose a method offered for the address",
    responses=CART_ERRORS,
)
async def set_method(
    cart_id: uuid.UUID, body: ShippingMethodIn, identity: OptionalUser, orders: OrdersContext
) -> CartOut:
    return (await carts.set_method(orders, identity, cart_id, body.shipping_method_id)).out


@router.post(
    "/{cart_id}/promotions",
    summary="Apply a promotion code (422 with `reason` if it does not apply)",
    responses=CART_ERRORS,
)
async def apply_code(
    cart_id: uuid.UUID, body: PromotionIn, identity: OptionalUser, orders: OrdersContext
) -> CartOut:
    return (await carts.apply_code(orders, identity, cart_id, body.code)).out


@router.delete(
    "/{cart_id}/promotions/{code}", summary="Remove the promotion code", responses=CART_ERRORS
)
async def remove_code(
    cart_id: uuid.UUID, code: str, identity: OptionalUser, orders: OrdersContext
) -> CartOut:
    return (await carts.remove_code(orders, identity, cart_id, code)).out


@router.post(
    "/{cart_id}/merge",
    summary="A guest cart's lines join your cart (after login)",
    responses=CART_ERRORS,
)
async def merge(
    cart_id: uuid.UUID, body: MergeIn, identity: CurrentUser, orders: OrdersContext
) -> CartOut:
    return (await carts.merge(orders, identity, cart_id, body.guest_cart_id)).out


@router.post(
    "/{cart_id}/checkout",
    status_code=201,
    response_model=CheckedOutOut,
    summary="Turn the cart into an order (a guest's answer carries its `order_token`, once)",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def checkout_cart(
    cart_id: uuid.UUID,
    identity: OptionalUser,
    orders: OrdersContext,
    body: Annotated[CheckoutIn | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    wanted = body or CheckoutIn()

    async def place(lease: idempotency.Lease | None) -> idempotency.Answer:
        done = await checkout.checkout(orders, identity, cart_id, wanted, lease)
        answer = online_placement.placed_answer(done.order)
        if done.order_token is None:
            return answer
        # Answered once: the key stores the order without it (and the order its hash).
        return idempotency.Answer(answer.status, {**answer.body, "order_token": done.order_token})

    async def settle(order_id: uuid.UUID) -> idempotency.Answer:
        return online_placement.placed_answer(await placement.settle(orders, order_id))

    settings = orders.settings
    answer = await idempotency.run_once(
        orders.sessionmaker,
        # A guest's keys are the cart's: its id is the guest's only key.
        user_id=cart_id if identity is None else identity.user_id,
        key=idempotency_key,
        scope=f"checkout:{cart_id}",
        request=wanted.model_dump(mode="json"),
        ttl=settings.idempotency_ttl_seconds,
        lease=settings.placement_deadline_seconds + LEASE_MARGIN_SECONDS,
        action=place,
        settle=settle,
    )
    return respond(answer)
