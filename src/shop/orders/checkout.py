"""Checking a cart out: its lines, address, shipping method and code become an order
through the placement saga (shop.orders.placement: reservation, Idempotency-Key,
outbox, reconciler).

One cart is one order. The transaction that records the pending order locks the cart
and refuses if the cart is completed (409 ``cart-completed``) or has a checkout in
flight (an order still pending: 409 ``checkout-in-progress``); else it binds the new
order to the cart. The transaction that confirms the order completes the cart, so a
cart is ``completed`` exactly when its order is placed. A refused checkout (stock
short, a code with no use left) cancels its order and leaves the cart open as it was.

A guest cart's order is a guest order: it carries the cart's email and a secret
token, returned once in the checkout's answer (``order_token``) and stored only as
its SHA-256; ``GET /orders/{id}`` with ``X-Order-Token`` reads it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import unit_of_work
from shop.kit.identity import Identity, verified_identity
from shop.orders import order_pricing, placement, reservation_lines
from shop.orders.cart_models import Cart, CartStatus
from shop.orders.cart_repository import CartRepository
from shop.orders.cart_schemas import CheckoutIn
from shop.orders.carts import visible
from shop.orders.context import Orders, actor_of
from shop.orders.errors import (
    CartChangedError,
    CartCompletedError,
    CartNotReadyError,
    CheckoutInProgressError,
    PaymentProviderNotAllowedError,
)
from shop.orders.idempotency import Lease
from shop.orders.models import Order, OrderStatus
from shop.orders.payment_providers.manual import MANUAL
from shop.orders.repository import OrderRepository
from shop.orders.schemas import ItemIn

GUEST_ACTOR = "guest"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CheckedOut:
    order: Order
    order_token: str | None  # a guest order's secret, answered once


def _missing(cart: Cart, email: str | None) -> list[tuple[str, str]]:
    missing: list[tuple[str, str]] = []
    if not cart.lines:
        missing.append(("items", "the cart is empty"))
    if not email:
        missing.append(("email", "a guest cart needs an email to check out"))
    if cart.shipping_address is None:
        missing.append(("shipping_address", "set the shipping address"))
    if cart.shipping_method_id is None:
        missing.append(("shipping_method_id", "choose a shipping method"))
    return missing


def _lines(cart: Cart) -> list[tuple[uuid.UUID, int]]:
    return [(line.variant_id, line.quantity) for line in cart.lines]


async def checkout(
    orders: Orders,
    identity: Identity | None,
    cart_id: uuid.UUID,
    body: CheckoutIn,
    lease: Lease | None = None,
) -> CheckedOut:
    settings = orders.settings
    async with unit_of_work(orders.sessionmaker) as session:
        cart = visible(await CartRepository(session).get(cart_id), identity)
    if cart.status is not CartStatus.OPEN:
        raise CartCompletedError("This cart was checked out already.")
    guest = cart.user_id is None
    if not guest:
        assert identity is not None  # visible: a user's cart answers only that user
        await verified_identity(identity)  # as for POST /orders: 403 if not verified
    email = cart.email or (None if identity is None or guest else identity.email)
    missing = _missing(cart, email)
    if missing:
        raise CartNotReadyError(missing)
    provider = orders.payments.chosen(body.payment_provider).name
    if guest and provider == MANUAL and not settings.manual_payments_for_guests:
        raise PaymentProviderNotAllowedError(
            "Guests can't pay manually in this shop; sign in to check out."
        )
    reservation_lines.check_quantities(
        [ItemIn(variant_id=v, quantity=q) for v, q in _lines(cart)], settings.max_line_quantity
    )
    token = secrets.token_urlsafe(32) if guest else None
    snapshot = _lines(cart)

    async def bind(session: AsyncSession, order: Order) -> None:
        """In the transaction recording the pending order: one checkout of a cart."""
        locked = await CartRepository(session).get(cart_id, lock=True)
        if locked is None or locked.status is not CartStatus.OPEN:
            raise CartCompletedError("This cart was checked out already.")
        if locked.order_id is not None:
            # Read, never locked: the confirmation locks that order, then this cart.
            previous = await OrderRepository(session).status_of(locked.order_id)
            if previous == OrderStatus.PENDING:
                raise CheckoutInProgressError()
            if previous is not None and previous != OrderStatus.CANCELLED:
                raise CartCompletedError("This cart was checked out already.")
        if _lines(locked) != snapshot:
            raise CartChangedError("The cart changed meanwhile; check it out again.")
        locked.order_id = order.id

    async def complete(session: AsyncSession, order: Order) -> None:
        """In the transaction confirming the order: the cart is completed with it."""
        locked = await CartRepository(session).get(cart_id, lock=True)
        if locked is not None:
            locked.status = CartStatus.COMPLETED
            locked.order_id = order.id

    assert cart.shipping_address is not None
    request = placement.OrderRequest(
        user_id=cart.user_id,
        email=email or "",
        actor=GUEST_ACTOR if identity is None else actor_of(identity),
        items=[ItemIn(variant_id=v, quantity=q) for v, q in snapshot],
        shipping_address=cart.shipping_address,
        choices=order_pricing.Choices(cart.shipping_method_id, cart.promotion_code),
        provider=provider,
        promotion_field="code",
        extra={
            "cart_id": cart_id,
            "order_token_hash": None if token is None else token_hash(token),
        },
        on_record=bind,
        on_confirm=complete,
    )
    order = await placement.place(orders, request, lease)
    return CheckedOut(order, token)
