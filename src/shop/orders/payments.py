"""Settling an order's online payment, whoever learns of it first: the webhook, the
customer reading their order, or the reconciler.

:func:`settle_payment` never trusts what it is told: it reads the payment back from
the provider, then

1. records it (one transaction, under the order's row lock): succeeded, the payment
   ``succeeded`` with ``paid_at`` and the order ``paid``, once (the update is
   conditional on it not being recorded yet); still awaiting, its last decline; the
   intent cancelled at the provider, the order cancelled;
2. commits the held units at products (no transaction open; idempotent);
3. confirms the order (one transaction: pending → confirmed, under its row lock, so
   once), with the confirmation and "payment received" emails in the outbox.

A crash or an outage between the steps leaves a succeeded payment on a pending order,
which the reconciler settles again (the steps done are not done twice). If the hold
was lost meanwhile (it lapsed and products released it), the order cannot be
fulfilled: it is cancelled, and the payment refunded in full (an automatic refund,
shop.orders.refunds); a payment that succeeds after its order was cancelled is
refunded so too.

:func:`expire_lapsed`: an unpaid order past its payment's hold. The payment is
cancelled at the provider first (so it can no longer be paid), then the order, and
its units go back; a cancel refused because the payment succeeded meanwhile settles
it instead. :func:`cancel_at_provider` does the same for an order its owner or an
admin cancels.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import Enum

import structlog

from shop.kit.db import unit_of_work
from shop.orders import lifecycle, promotion_uses, refunds, stock
from shop.orders.context import Orders
from shop.orders.emails import format_money
from shop.orders.models import Order, OrderStatus, PaymentStatus, StockState
from shop.orders.payment_errors import (
    PaymentProviderNotEnabledError,
    PaymentProviderUnavailableError,
)
from shop.orders.payment_models import Payment, PaymentState
from shop.orders.payment_providers.base import (
    PaymentProvider,
    ProviderPayment,
    ProviderState,
    ProviderUnavailableError,
)
from shop.orders.payment_repository import PaymentRepository
from shop.orders.repository import OrderRepository

log = structlog.get_logger("shop.orders.payments")

PAYMENTS_ACTOR = "system:payments"
PAID_TOO_LATE = "paid after its stock hold lapsed: cancelled, the payment refunded in full"
CANCELLED_AT_PROVIDER = "the payment was cancelled at the provider"
HOLD_LAPSED = "not paid in time: the payment window closed"


class Settled(Enum):
    """Where a settlement left the order."""

    NOTHING = "nothing"  # no online payment, or not paid (yet)
    CONFIRMED = "confirmed"  # paid and confirmed (now, or before)
    CANCELLED = "cancelled"  # cancelled unpaid
    REFUNDED = "refunded"  # paid, but cancelled: refunded (or the refund under way)
    UNFINISHED = "unfinished"  # paid; products could not be reached: the reconciler finishes


async def _online_payment(
    orders: Orders, order_id: uuid.UUID
) -> tuple[Payment, PaymentProvider, str] | None:
    """The order's payment, its provider and reference, if it is paid online."""
    async with unit_of_work(orders.sessionmaker) as session:
        payment = await PaymentRepository(session).of_order(order_id)
    if payment is None or payment.provider_ref is None:
        return None
    try:
        provider = orders.payments.get(payment.provider)
    except KeyError:  # no longer configured: nothing can be asked; an admin must see to it
        log.error("payment of a provider not configured", order_id=str(order_id))
        return None
    if not provider.online:
        return None
    return payment, provider, payment.provider_ref


def awaits_online(order: Order) -> bool:
    """Whether the order (its payment loaded) awaits a payment online."""
    payment = order.payment
    return (
        order.status is OrderStatus.PENDING
        and payment is not None
        and payment.status is PaymentState.AWAITING
        and payment.provider_ref is not None
    )


async def refresh(orders: Orders, order_id: uuid.UUID) -> bool:
    """Settles the order's payment as the provider says it stands; False (logged) if
    the provider could not be asked."""
    try:
        await settle_payment(orders, order_id)
    except ProviderUnavailableError as exc:
        log.warning("payment not refreshed", order_id=str(order_id), error=str(exc))
        return False
    return True


async def settle_payment(orders: Orders, order_id: uuid.UUID) -> Settled:
    """Finishes the order as its payment stands at the provider (see the module's doc).
    Raises ProviderUnavailableError when the provider could not be asked."""
    found = await _online_payment(orders, order_id)
    if found is None:
        return Settled.NOTHING
    payment, provider, ref = found
    if payment.status is not PaymentState.SUCCEEDED:
        await _record(orders, order_id, await provider.read(ref), CANCELLED_AT_PROVIDER)
    return await _finish(orders, order_id)


async def _record(
    orders: Orders, order_id: uuid.UUID, answer: ProviderPayment, cancel_note: str
) -> None:
    """Step 1: what the provider says, recorded once."""
    give_back = False
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        payment = await PaymentRepository(session).of_order(order_id, lock=True)
        if order is None or payment is None:
            return
        payment.updated_at = datetime.now(UTC)  # checked now: the reconciler asks others first
        if answer.state is ProviderState.SUCCEEDED:
            if payment.status is not PaymentState.SUCCEEDED:
                payment.status = PaymentState.SUCCEEDED
                payment.paid_at = datetime.now(UTC)
                payment.last_error = None
                order.payment_status = PaymentStatus.PAID
                money = format_money(answer.amount_received or payment.amount, order.currency)
                lifecycle.record(session, order, PAYMENTS_ACTOR, f"payment of {money} received")
                log.info("payment succeeded", order_id=str(order_id))
        elif answer.state is ProviderState.CANCELLED:
            if payment.status is PaymentState.AWAITING:
                payment.status = PaymentState.CANCELLED
                if order.payment_status is PaymentStatus.AWAITING:
                    order.payment_status = PaymentStatus.NOT_REQUIRED
                if order.status is OrderStatus.PENDING:
                    transition = lifecycle.transition
                    transition(session, order, OrderStatus.CANCELLED, PAYMENTS_ACTOR, cancel_note)
                    await promotion_uses.give_back(session, order_id)
                    give_back = True
        elif answer.last_error and answer.last_error != payment.last_error:
            payment.last_error = answer.last_error  # declined: the buyer may try again
    if give_back:
        await stock.give_back(orders, order_id)


async def _finish(orders: Orders, order_id: uuid.UUID) -> Settled:
    """Steps 2 and 3 for a payment recorded ``succeeded``; else where the order is."""
    async with unit_of_work(orders.sessionmaker) as session:
        payment = await PaymentRepository(session).of_order(order_id)
        status = await OrderRepository(session).status_of(order_id)
    if payment is None or payment.status is not PaymentState.SUCCEEDED:
        return Settled.CANCELLED if status is OrderStatus.CANCELLED else Settled.NOTHING
    if status is OrderStatus.PENDING:
        answer = await stock.commit_hold(orders, order_id)
        if answer is stock.CommitAnswer.UNKNOWN:
            return Settled.UNFINISHED
        if answer is stock.CommitAnswer.COMMITTED:
            status = await _confirm(orders, order_id, payment.amount)
        else:
            status = await _cancel_unfulfillable(orders, order_id)
    if status is OrderStatus.CANCELLED:
        await _refund_cancelled(orders, order_id)
        return Settled.REFUNDED
    return Settled.CONFIRMED


async def _confirm(orders: Orders, order_id: uuid.UUID, amount: int) -> OrderStatus | None:
    """Step 3: pending → confirmed (once: under the row lock), the emails queued."""
    async with unit_of_work(orders.sessionmaker) as session:
        repository = OrderRepository(session)
        order = await repository.lock(order_id, with_history=True)
        if order is None or order.status is not OrderStatus.PENDING:
            return None if order is None else order.status
        order.stock_state = StockState.COMMITTED
        lifecycle.transition(session, order, OrderStatus.CONFIRMED, PAYMENTS_ACTOR, "paid")
        await session.flush()
        confirmed: Order | None = await repository.full(order_id)
        assert confirmed is not None
        await orders.emails.confirmed(session, confirmed, confirmed.lines)
        await orders.emails.payment_received(session, confirmed, amount)
    log.info("order paid and confirmed", order_id=str(order_id))
    return OrderStatus.CONFIRMED


async def _cancel_unfulfillable(orders: Orders, order_id: uuid.UUID) -> OrderStatus | None:
    """Paid, but its units were released (the hold lapsed): the order is cancelled."""
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is None:
            return None
        if order.status is OrderStatus.PENDING:
            transition = lifecycle.transition
            transition(session, order, OrderStatus.CANCELLED, PAYMENTS_ACTOR, PAID_TOO_LATE)
            await promotion_uses.give_back(session, order_id)
        status = order.status
    log.error("paid after the stock hold lapsed: cancelled", order_id=str(order_id))
    await stock.give_back(orders, order_id)
    return status


async def _refund_cancelled(orders: Orders, order_id: uuid.UUID) -> None:
    """A cancelled order's payment that succeeded: all that is left of it goes back (an
    automatic refund; none if it is refunded, or being refunded, already)."""
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is None or order.status is not OrderStatus.CANCELLED:
            return
        refund = await refunds.open_remainder(
            session, order, reason=PAID_TOO_LATE, actor=PAYMENTS_ACTOR
        )
        refund_id = None if refund is None else refund.id
    if refund_id is not None:
        await refunds.finish(orders, refund_id)  # pending if unreachable: the reconciler


async def expire_lapsed(orders: Orders, order_id: uuid.UUID) -> Settled:
    """An unpaid order past its payment's hold: cancelled at the provider, then here
    (its units given back); settled instead if the payment succeeded meanwhile."""
    found = await _online_payment(orders, order_id)
    if found is None:
        return Settled.NOTHING
    _, provider, ref = found
    answer = await provider.cancel(ref)
    if answer.state is ProviderState.AWAITING:
        return Settled.NOTHING  # not cancellable now (processing): asked again next round
    await _record(orders, order_id, answer, HOLD_LAPSED)
    return await _finish(orders, order_id)


async def cancel_at_provider(orders: Orders, order_id: uuid.UUID) -> None:
    """Before an order awaiting an online payment is cancelled by its owner or an
    admin: the payment is cancelled at the provider, so it can no longer be paid. If it
    succeeded meanwhile, it is settled (the order is then paid, and its cancellation
    refunds it). 503 when the provider cannot be reached: nothing changed."""
    found = await _online_payment(orders, order_id)
    if found is None or found[0].status is not PaymentState.AWAITING:
        return
    _, provider, ref = found
    try:
        answer = await provider.cancel(ref)
        if answer.state is ProviderState.SUCCEEDED:
            await _record(orders, order_id, answer, CANCELLED_AT_PROVIDER)
            await _finish(orders, order_id)
    except ProviderUnavailableError as exc:
        raise PaymentProviderUnavailableError(
            "The payment provider could not be reached; the order was not cancelled. Try again."
        ) from exc


async def handle_webhook(
    orders: Orders, provider_name: str, payload: bytes, signature: str | None
) -> str:
    """A provider's webhook: verified (400 ``invalid-signature``), each event acted on
    once (its id stored; seen before: nothing done), then the payment it names settled
    as the provider says it stands now (out-of-order events are harmless). Answers what
    was done, for the log. An outage of the provider forgets the event and answers 503,
    so that the provider sends it again."""
    if not orders.payments.is_enabled(provider_name):
        raise PaymentProviderNotEnabledError(f"The {provider_name} provider is not enabled.")
    provider = orders.payments.get(provider_name)
    event = provider.parse_webhook(payload, signature)
    async with unit_of_work(orders.sessionmaker) as session:
        fresh = await PaymentRepository(session).record_event(provider_name, event.id, event.type)
    if not fresh:
        return "seen"
    if not event.type.startswith("payment_intent.") or event.payment_ref is None:
        return "ignored"
    async with unit_of_work(orders.sessionmaker) as session:
        order_id = await PaymentRepository(session).order_of_ref(provider_name, event.payment_ref)
    if order_id is None:
        log.info("webhook for a payment of no order", event_id=event.id, ref=event.payment_ref)
        return "unknown payment"
    try:
        outcome = await settle_payment(orders, order_id)
    except ProviderUnavailableError as exc:
        async with unit_of_work(orders.sessionmaker) as session:
            await PaymentRepository(session).forget_event(provider_name, event.id)
        raise PaymentProviderUnavailableError() from exc
    return outcome.value
