"""The last steps of placing an order paid online (a provider such as stripe), after
shop.orders.placement priced it with its units held, not taken:

4. The payment is created at the provider for the order's total, keyed by the order's
   id (no transaction open; a repeat answers the same payment).
5. In one transaction, if the order is still pending and not placed: it becomes
   ``placed`` (still ``pending``, its stock ``held``), its payment recorded
   ``awaiting`` with the provider's reference, the client secret and the end of its
   hold (``PAYMENT_HOLD_MINUTES`` from now); a cart is completed with it, and the
   answer (201, the order with its client secret) stored on the Idempotency-Key.

The units are held at products for the payment's hold and a margin, so the hold
outlives the payment window. If step 4 fails, the order is cancelled and its units
and code's use given back: 503 ``payment-provider-unavailable``, nothing charged. A
payment created meanwhile (the answer was lost) can never be paid: nobody ever got its
client secret. The payment's outcome is settled by shop.orders.payments.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import unit_of_work
from shop.orders import idempotency, lifecycle, payment_records, promotion_uses, stock
from shop.orders.context import Orders
from shop.orders.errors import CatalogUnavailableError
from shop.orders.models import Order, OrderStatus
from shop.orders.payment_errors import PaymentProviderUnavailableError
from shop.orders.payment_providers.base import PaymentProvider, ProviderUnavailableError
from shop.orders.presenters import order_out
from shop.orders.repository import OrderRepository

log = structlog.get_logger("shop.orders.placement")

# How much longer than the payment's hold products holds the units: the reconciler
# cancels an unpaid order at the end of the payment's hold, well before its units go.
HOLD_MARGIN_SECONDS = 600
AWAITING_PAYMENT = "awaiting payment"
PROVIDER_UNAVAILABLE = "the payment provider could not be reached"


def hold_seconds(payment_hold_minutes: int) -> int:
    """How long products holds an order's units while its payment is awaited."""
    return payment_hold_minutes * 60 + HOLD_MARGIN_SECONDS


def placed_answer(order: Order) -> idempotency.Answer:
    """What a placement answers to whoever placed it: 201 and the order."""
    return idempotency.Answer(201, order_out(order, to_owner=True).model_dump(mode="json"))


async def await_payment(
    orders: Orders,
    provider: PaymentProvider,
    order_id: uuid.UUID,
    actor: str,
    lease: idempotency.Lease | None,
    on_placed: Callable[[AsyncSession, Order], Awaitable[None]] | None = None,
) -> Order:
    """Steps 4 and 5 (see the module's doc): the order placed and awaiting its payment,
    with what its answer shows loaded; or a ShopError."""
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is None or order.status != OrderStatus.PENDING or order.placed:
            raise CatalogUnavailableError("The order could not be placed in time. Try again.")
        number, amount, currency, email = order.number, order.total, order.currency, order.email
    assert currency is not None  # priced
    try:
        created = await provider.create(order_id, number, amount, currency, email)
    except ProviderUnavailableError:
        await _abandon(orders, order_id, actor)
        raise PaymentProviderUnavailableError() from None
    hold_until = datetime.now(UTC) + timedelta(minutes=orders.settings.payment_hold_minutes)
    async with unit_of_work(orders.sessionmaker) as session:
        repository = OrderRepository(session)
        order = await repository.lock(order_id, with_history=True)
        placed = order is not None and order.status == OrderStatus.PENDING and not order.placed
        if order is not None and placed:
            order.placed = True
            lifecycle.record(session, order, actor, AWAITING_PAYMENT)
            await payment_records.record_payment(
                session,
                order,
                ref=created.ref,
                client_secret=created.client_secret,
                hold_expires_at=hold_until,
            )
            if on_placed is not None:
                await on_placed(session, order)
            await session.flush()
            order = await repository.full(order_id)
            assert order is not None
            await idempotency.record_answer(session, lease, placed_answer(order))
    if not placed or order is None:
        # The reconciler cancelled it meanwhile (past the placement deadline): the
        # payment must never be paid. Nobody has its secret; cancel it all the same.
        await _cancel_unplaced_payment(provider, created.ref)
        raise CatalogUnavailableError("The order could not be placed in time. Try again.")
    log.info("order awaiting payment", order_id=str(order_id), provider=provider.name)
    return order


async def _abandon(orders: Orders, order_id: uuid.UUID, actor: str) -> None:
    """The order is cancelled, its code's use and its units given back."""
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is not None and order.status == OrderStatus.PENDING and not order.placed:
            lifecycle.transition(session, order, OrderStatus.CANCELLED, actor, PROVIDER_UNAVAILABLE)
            await promotion_uses.give_back(session, order_id)
    await stock.give_back(orders, order_id)


async def _cancel_unplaced_payment(provider: PaymentProvider, ref: str | None) -> None:
    if ref is None:
        return
    try:
        await provider.cancel(ref)
    except ProviderUnavailableError:
        log.warning("an unplaced order's payment could not be cancelled", ref=ref)
