"""Placing an order: a saga over the orders database and the products service.

1. The order is recorded ``pending`` (not ``placed``) with what was asked, and
   committed: from now on the reconciler knows of it.
2. Products reserves every line and takes the units off the shelf at once, in
   one call and one transaction of its own, keyed by the order's id (no
   transaction is open here meanwhile; retries are safe).
3. a. Taken: in one transaction, if the order is still pending, its lines take
      the reservation's prices, names and SKUs, it becomes ``confirmed`` and
      ``placed`` with its stock ``committed``, and the confirmation email is
      queued; the answer is built from that transaction's rows. (Were the
      units only held, the order would be confirmed with its stock ``held``
      and the reconciler would commit them.) Taking the units before
      confirming means the customer is never told of an order whose stock is
      then lost.
   b. Refused (not enough stock, products not orderable): the order is
      cancelled, never placed, and the client gets products' reasons.
   c. No answer in time: 503. The order stays pending; once it is older than
      the placement deadline, the reconciler cancels it and gives back
      anything a late reservation took.

Paid online (a provider such as stripe, shop.orders.online_placement): step 2
holds the units for longer than the payment may take (``hold_seconds``), and step
3 only prices the order, which stays pending and unplaced; then the payment is
created at the provider and the order placed, still pending, awaiting it. Its
outcome is settled by shop.orders.payments. Step 1 also counts a user's unpaid
manual orders (``MAX_UNPAID_ORDERS``) under a lock of that user's.

With an Idempotency-Key, step 1 also records the order on the key, in the same
transaction (``idempotency.record_order``). If the request dies, a repeat after
its lease answers from that order (``settle``): placed, the order (201, as the
first request would have answered); cancelled, the refusal its history notes
(an order the reconciler cancelled: 409 ``order-not-placed``); still pending
past the placement deadline, it is cancelled first, as the reconciler would.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from shop.kit.contracts.reservations import (
    ReservationOut,
    ReservationStatus,
    ReserveLineIn,
)
from shop.kit.db import unit_of_work
from shop.kit.errors import ShopError
from shop.kit.identity import Identity
from shop.orders import (
    idempotency,
    lifecycle,
    online_placement,
    order_pricing,
    payment_records,
    promotion_uses,
    refusals,
    reservation_lines,
    stock,
)
from shop.orders.context import RECONCILER_ACTOR, Orders, actor_of
from shop.orders.errors import (
    CatalogUnavailableError,
    IdempotencyKeyInProgressError,
    MixedCurrencyError,
    OrderNotPlacedError,
    PromotionRefusedError,
    ShippingMethodNotOfferedError,
)
from shop.orders.models import Order, OrderStatus, StockState
from shop.orders.online_placement import placed_answer
from shop.orders.payment_providers.manual import MANUAL
from shop.orders.pricing_lookup import offered_method
from shop.orders.products_client import ProductsRefusedError, ProductsUnavailableError
from shop.orders.repository import OrderRepository
from shop.orders.schemas import ItemIn, PlaceOrderIn

log = structlog.get_logger("shop.orders.placement")

# A step of the caller's in a placement's transaction (the session, the order).
Hook = Callable[[AsyncSession, Order], Awaitable[None]]


@dataclass(frozen=True)
class OrderRequest:
    """An order to place: who for, what, where to, and how it is priced. ``user_id`` is
    None for a guest. The hooks run in the transaction that records the pending order
    (``on_record``) and in the one that confirms it (``on_confirm``)."""

    user_id: uuid.UUID | None
    email: str
    actor: str
    items: list[ItemIn]
    shipping_address: dict[str, Any]
    choices: order_pricing.Choices = field(default_factory=order_pricing.Choices)
    provider: str | None = None  # the payment provider; None: the shop's default
    # The request's name of the promotion code, in a refusal (``code`` for a cart).
    promotion_field: str = "promotion_code"
    extra: dict[str, Any] = field(default_factory=dict)  # more columns of the order
    on_record: Hook | None = None
    on_confirm: Hook | None = None


class _PricingRefusedError(Exception):
    """Pricing refused the order at confirmation (the transaction rolled back)."""

    def __init__(self, error: ShopError) -> None:
        self.error = error
        super().__init__(error.type_slug)


class Confirmation(Enum):
    CONFIRMED = "confirmed"
    PRICED = "priced"  # priced and still pending, its stock held: to be paid online first
    GONE = "gone"  # no longer pending: the reconciler cancelled it meanwhile
    MIXED_CURRENCIES = "mixed"


def order_request(identity: Identity, body: PlaceOrderIn) -> OrderRequest:
    """What ``POST /orders`` asks: the checkout of an implicit cart."""
    return OrderRequest(
        user_id=identity.user_id,
        email=identity.email,
        actor=actor_of(identity),
        items=body.items,
        shipping_address=body.shipping_address.model_dump(mode="json"),
        choices=order_pricing.Choices(body.shipping_method_id, body.promotion_code),
        provider=body.payment_provider,
    )


async def place_order(
    orders: Orders,
    identity: Identity,
    body: PlaceOrderIn,
    lease: idempotency.Lease | None = None,
) -> Order:
    """``POST /orders`` (see :func:`place`)."""
    return await place(orders, order_request(identity, body), lease)


async def place(
    orders: Orders, request: OrderRequest, lease: idempotency.Lease | None = None
) -> Order:
    """The confirmed order, with its lines and history; or a ShopError. Under an
    Idempotency-Key's ``lease``, the order is recorded on the key."""
    reservation_lines.check_quantities(request.items, orders.settings.max_line_quantity)
    provider = orders.payments.chosen(request.provider)
    request = replace(request, provider=provider.name)
    if orders.products.breaker_open:  # fail fast, and leave no pending order behind
        raise CatalogUnavailableError()
    method_id = request.choices.shipping_method_id
    if method_id is not None:  # refused before anything is reserved (checked again after)
        async with unit_of_work(orders.sessionmaker) as session:
            country = request.shipping_address["country"]
            if await offered_method(session, method_id, country) is None:
                raise ShippingMethodNotOfferedError()
    items = request.items
    lines = [
        ReserveLineIn(
            product_id=item.product_id, variant_id=item.variant_id, quantity=item.quantity
        )
        for item in items
    ]
    actor = request.actor
    order_id = await _record_pending(orders, request, lease)
    # Paid online: the units are held (not taken) until the payment succeeds, for longer
    # than the payment may take. Else they are taken at once.
    hold_minutes = orders.settings.payment_hold_minutes
    hold = online_placement.hold_seconds(hold_minutes) if provider.online else None
    try:
        reservation = await orders.products.reserve(
            order_id, lines, commit=not provider.online, hold_seconds=hold
        )
    except ProductsUnavailableError as exc:
        log.warning("placement left pending", order_id=str(order_id), reason=str(exc))
        raise CatalogUnavailableError() from exc
    except ProductsRefusedError as exc:
        raise await _refused(orders, order_id, actor, exc) from None

    positions = reservation_lines.positions(items, reservation.lines)
    if positions is None:
        log.error("the reservation does not match the order", order_id=str(order_id))
        raise CatalogUnavailableError()
    try:
        outcome, order = await _confirm(
            orders, request, order_id, reservation, positions, lease, online=provider.online
        )
    except _PricingRefusedError as refused:
        # Nothing of the confirmation was kept: the order is cancelled, its units go back.
        await _cancel_pending(
            orders, order_id, actor, refusals.PRICING_REFUSED + refused.error.type_slug
        )
        await stock.give_back(orders, order_id)
        raise _named(refused.error, request.promotion_field) from None
    if outcome is Confirmation.PRICED:
        return await online_placement.await_payment(
            orders, provider, order_id, actor, lease, on_placed=request.on_confirm
        )
    if outcome is not Confirmation.CONFIRMED:
        await stock.give_back(orders, order_id)
        if outcome is Confirmation.MIXED_CURRENCIES:
            raise MixedCurrencyError("The products are priced in different currencies.")
        raise CatalogUnavailableError("The order could not be placed in time. Try again.")
    assert order is not None
    return order


async def _read(orders: Orders, order_id: uuid.UUID) -> Order | None:
    async with unit_of_work(orders.sessionmaker) as session:
        return await OrderRepository(session).full(order_id)


async def _record_pending(
    orders: Orders, request: OrderRequest, lease: idempotency.Lease | None
) -> uuid.UUID:
    order_id = uuid.uuid4()
    async with unit_of_work(orders.sessionmaker) as session:
        repository = OrderRepository(session)
        order = Order(
            id=order_id,
            number=await repository.next_number(),
            user_id=request.user_id,
            email=request.email,
            status=OrderStatus.PENDING,
            placed=False,
            subtotal=0,
            total=0,
            shipping_address=request.shipping_address,
            stock_state=StockState.NONE,
            requested_items=[item.model_dump(mode="json") for item in request.items],
            payment_provider=request.provider,
            **request.extra,
        )
        if request.user_id is not None and request.provider == MANUAL:
            await payment_records.check_unpaid(
                session, request.user_id, orders.settings.max_unpaid_orders
            )
        await repository.add(order)
        lifecycle.record(session, order, request.actor, "order received")
        await idempotency.record_order(session, lease, order_id)
        if request.on_record is not None:
            await request.on_record(session, order)
    return order_id


def _named(error: ShopError, field_name: str) -> ShopError:
    """A promotion refusal names the field the request gave the code in."""
    if isinstance(error, PromotionRefusedError):
        error.name_field(field_name)
    return error


async def _cancel_pending(orders: Orders, order_id: uuid.UUID, actor: str, note: str) -> None:
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is not None and order.status == OrderStatus.PENDING:
            lifecycle.transition(session, order, OrderStatus.CANCELLED, actor, note)


async def settle(orders: Orders, order_id: uuid.UUID) -> Order:
    """The placed order an Idempotency-Key's dead request recorded; or the refusal it
    would have answered (a ShopError); 409 in progress while it may still be placed."""
    deadline = timedelta(seconds=orders.settings.placement_deadline_seconds)
    abandoned = False
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is None:
            raise OrderNotPlacedError("The order of this request was not recorded.")
        if order.status == OrderStatus.PENDING and not order.placed:
            overdue = await session.scalar(
                select(Order.created_at < func.now() - deadline).where(Order.id == order_id)
            )
            if not overdue:
                raise IdempotencyKeyInProgressError()
            # What the reconciler would do at its next round.
            transition = lifecycle.transition
            transition(
                session, order, OrderStatus.CANCELLED, RECONCILER_ACTOR, refusals.NOT_COMPLETED
            )
            await promotion_uses.give_back(session, order_id)  # priced to be paid online
            abandoned = True
    if abandoned:
        await stock.give_back(orders, order_id)  # else the reconciler gives it back
    placed = await _read(orders, order_id)
    assert placed is not None
    if placed.placed:
        return placed
    raise refusals.of_order(placed)


async def _refused(
    orders: Orders, order_id: uuid.UUID, actor: str, refusal: ProductsRefusedError
) -> Exception:
    """The error to answer a refused reservation with; cancels the order if it is final."""
    note, error = refusals.of_reservation(refusal)
    if note is None:  # released by the reconciler meanwhile, or a refusal we do not expect
        log.warning("reservation refused", order_id=str(order_id), type=refusal.type_slug)
        return error
    # Products kept nothing. The stock state stays "none" all the same, so that the
    # reconciler leaves a tombstone there: an earlier attempt of the reserve call that is
    # still on its way (it timed out here) is then refused, never held.
    await _cancel_pending(orders, order_id, actor, note)
    return error


async def _confirm(
    orders: Orders,
    request: OrderRequest,
    order_id: uuid.UUID,
    reservation: ReservationOut,
    position: dict[uuid.UUID, int],
    lease: idempotency.Lease | None,
    *,
    online: bool = False,
) -> tuple[Confirmation, Order | None]:
    """Confirms the pending order from its reservation (``position``: each variant's
    place among the items), priced (shop.orders.order_pricing: a refusal raises
    _PricingRefusedError, and nothing is kept); the confirmed order comes with its lines
    and history loaded, as this transaction wrote them. Under a lease, the answer (the
    order, 201) is stored on the key in the same transaction. Paid ``online``, an order
    with something to pay is only priced: it stays pending, its units held (PRICED)."""
    actor = request.actor
    try:
        async with unit_of_work(orders.sessionmaker) as session:
            order = await OrderRepository(session).lock(order_id, with_history=True)
            if order is None or order.status != OrderStatus.PENDING:
                return Confirmation.GONE, None
            committed = reservation.status is ReservationStatus.COMMITTED
            order.stock_state = StockState.COMMITTED if committed else StockState.HELD
            currencies = {line.currency for line in reservation.lines}
            if len(currencies) != 1:
                lifecycle.transition(
                    session, order, OrderStatus.CANCELLED, actor, refusals.MIXED_CURRENCIES
                )
                return Confirmation.MIXED_CURRENCIES, None
            lines = reservation_lines.order_lines(order_id, reservation, position)
            await order_pricing.price_order(
                session,
                order,
                lines,
                request.choices,
                prices_include_tax=orders.settings.prices_include_tax,
                now=datetime.now(UTC),
            )
            session.add_all(lines)
            order.currency = currencies.pop()
            if online and order.total > 0:
                return Confirmation.PRICED, None
            order.placed = True
            lifecycle.transition(session, order, OrderStatus.CONFIRMED, actor, "stock reserved")
            await payment_records.record_payment(session, order)
            if request.on_confirm is not None:
                await request.on_confirm(session, order)
            await session.flush()
            set_committed_value(order, "lines", lines)
            await orders.emails.confirmed(session, order, lines)
            if lease is not None:
                await idempotency.record_answer(session, lease, placed_answer(order))
    except ShopError as error:
        if error.status >= 500:
            raise
        raise _PricingRefusedError(error) from error
    log.info("order confirmed", order_id=str(order_id), number=order.number)
    return Confirmation.CONFIRMED, order
