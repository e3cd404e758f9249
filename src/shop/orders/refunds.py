"""Refunds: money given back for a paid order, never more than was paid.

A refund is a change here, a call to the payment provider, then a change here again:

1. in one transaction, under the order's row lock, what is left to refund is
   computed (paid - every refund not failed, pending ones included) and a
   ``pending`` refund inserted: concurrent refunds of one order queue on the lock,
   so together they never exceed the payment;
2. with no transaction open, the provider is asked to refund, with the refund's
   id as idempotency key (asking twice refunds once);
3. in a second transaction the refund becomes ``succeeded`` (the order's
   ``payment_status`` follows, its history says so, the "refund issued" email is
   queued) or ``failed`` (the provider refused; its amount is free again).

A crash or an outage between 1 and 3 leaves the refund ``pending``; the reconciler
(:func:`retry_pending_refunds`) asks the provider again with the same key and
records the answer. Step 3 is conditional on the refund still being pending, so a
request and the reconciler finishing one refund at once record it once.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import unit_of_work
from shop.orders import lifecycle
from shop.orders.context import RECONCILER_ACTOR, Orders
from shop.orders.emails import format_money
from shop.orders.errors import OrderNotFoundError
from shop.orders.models import Order, OrderStatus, PaymentStatus
from shop.orders.payment_errors import OrderNotPaidError, RefundExceedsPaymentError
from shop.orders.payment_models import PaymentState, Refund, RefundStatus
from shop.orders.payment_providers.base import (
    ProviderRefund,
    ProviderRefundState,
    ProviderUnavailableError,
)
from shop.orders.payment_repository import PaymentRepository
from shop.orders.refund_repository import RefundRepository
from shop.orders.repository import OrderRepository

log = structlog.get_logger("shop.orders.refunds")

# What an order's payment_status is once money was received (not_required: none was).
REFUNDABLE = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
# A pending refund younger than this is left to the request that is finishing it.
RETRY_AFTER_SECONDS = 30.0


async def open_refund(
    session: AsyncSession,
    order: Order,
    *,
    amount: int | None,
    reason: str,
    actor: str,
    automatic: bool = False,
    refund_id: uuid.UUID | None = None,
) -> Refund:
    """Step 1, in the caller's transaction, which holds ``order``'s row lock: a pending
    refund of ``amount`` (or of all that is left). 409 if the order is not paid, or if
    ``amount`` is more than is left."""
    refunds = RefundRepository(session)
    payment = await PaymentRepository(session).of_order(order.id)
    if (
        payment is None
        or payment.status != PaymentState.SUCCEEDED
        or order.payment_status not in REFUNDABLE
    ):
        raise OrderNotPaidError("The order has not been paid: there is nothing to refund.")
    remaining = payment.amount - await refunds.not_failed_total(order.id)
    wanted = remaining if amount is None else amount
    if remaining <= 0 or wanted > remaining:
        left = max(remaining, 0)
        raise RefundExceedsPaymentError(left, format_money(left, order.currency))
    refund = Refund(
        id=refund_id or uuid.uuid4(),
        order_id=order.id,
        payment_id=payment.id,
        amount=wanted,
        reason=reason[:500],
        status=RefundStatus.PENDING,
        actor=actor[:100],
        automatic=automatic,
    )
    await refunds.add(refund)
    return refund


async def open_remainder(
    session: AsyncSession, order: Order, *, reason: str, actor: str
) -> Refund | None:
    """A pending refund of all that is left of a paid order's payment (its order
    cancelled, in the caller's transaction); None when nothing is paid or left."""
    if order.payment_status not in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
        return None
    try:
        return await open_refund(
            session, order, amount=None, reason=reason, actor=actor, automatic=True
        )
    except (OrderNotPaidError, RefundExceedsPaymentError):
        return None  # every cent is refunded already, or on its way back


async def refund(
    orders: Orders,
    order_id: uuid.UUID,
    *,
    amount: int | None,
    reason: str,
    actor: str,
    automatic: bool = False,
    refund_id: uuid.UUID | None = None,
) -> Refund:
    """Refunds ``amount`` of the order's payment (all that is left when None). The
    answer is the refund as it stands: ``succeeded``, ``failed`` (the provider
    refused), or ``pending`` (the provider could not be reached: the reconciler
    finishes it). With a ``refund_id`` already recorded for this order, that refund
    is finished instead of a new one opened (a request repeated after a crash)."""
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is None:
            raise OrderNotFoundError("No such order.")
        existing = None
        if refund_id is not None:
            existing = await RefundRepository(session).of_order(order_id, refund_id)
        if existing is None:
            opened = await open_refund(
                session,
                order,
                amount=amount,
                reason=reason,
                actor=actor,
                automatic=automatic,
                refund_id=refund_id,
            )
            refund_id = opened.id
    assert refund_id is not None
    return await finish(orders, refund_id)


async def finish(orders: Orders, refund_id: uuid.UUID) -> Refund:
    """Steps 2 and 3 for a pending refund (for one already finished, it as it is)."""
    async with unit_of_work(orders.sessionmaker) as session:
        found = await RefundRepository(session).with_payment(refund_id)
    if found is None:
        raise OrderNotFoundError("No such refund.")
    pending, payment = found
    if pending.status != RefundStatus.PENDING:
        return pending
    try:
        provider = orders.payments.get(payment.provider)
        answer = await provider.refund(payment.provider_ref, pending.amount, refund_id)
    except (ProviderUnavailableError, KeyError) as exc:
        # Unreachable, or the provider is no longer configured: nothing is known to have
        # happened there, and the same key may be asked again.
        log.warning(
            "refund not finished; the reconciler retries", refund_id=str(refund_id), error=repr(exc)
        )
        return pending
    return await _record(orders, refund_id, answer)


async def _record(orders: Orders, refund_id: uuid.UUID, answer: ProviderRefund) -> Refund:
    """Step 3: what the provider answered, recorded once (under the order's lock)."""
    async with unit_of_work(orders.sessionmaker) as session:
        refunds = RefundRepository(session)
        order_id = await refunds.order_of(refund_id)
        order = await OrderRepository(session).lock(order_id) if order_id else None
        found = await refunds.with_payment(refund_id, lock=True)
        assert order is not None
        assert found is not None
        row, payment = found
        if row.status != RefundStatus.PENDING:  # recorded meanwhile (the reconciler)
            return row
        row.provider_ref = answer.ref
        money = format_money(row.amount, order.currency)
        if answer.state is ProviderRefundState.FAILED:
            why = answer.failure or "refused by the provider"
            row.status = RefundStatus.FAILED  # why: in the history and the log
            lifecycle.record(session, order, row.actor, f"refund of {money} failed: {why}")
            log.error("refund refused by the provider", refund_id=str(refund_id), error=why)
            return row
        # A refund the provider still processes (Stripe: "pending") is money on its way
        # back: asking again would only replay that answer. It counts as given back.
        refunded = await refunds.succeeded_total(order.id) + row.amount
        row.status = RefundStatus.SUCCEEDED
        order.payment_status = (
            PaymentStatus.REFUNDED
            if refunded >= payment.amount
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        lifecycle.record(session, order, row.actor, f"refunded {money}: {row.reason}")
        await orders.emails.refund_issued(
            session,
            order,
            amount=row.amount,
            reason=row.reason,
            refunded=refunded,
            paid=payment.amount,
        )
        await session.flush()
    log.info("refunded", refund_id=str(refund_id), order_id=str(order.id), amount=row.amount)
    return row


async def retry_pending_refunds(orders: Orders, *, limit: int = 50) -> int:
    """Finishes refunds left pending by a crash or an outage, and refunds what a
    cancelled order still keeps (cancelled by a path that could not refund it: its
    stock hold lost, say); returns how many refunds it finished (succeeded or failed)."""
    async with unit_of_work(orders.sessionmaker) as session:
        ids = await RefundRepository(session).stale_pending_ids(RETRY_AFTER_SECONDS, limit)
        kept = await RefundRepository(session).cancelled_still_paid(limit)
    for order_id in kept:
        opened = await _refund_cancelled(orders, order_id)
        if opened is not None:
            ids.append(opened)
    finished = 0
    for refund_id in ids:
        done = await finish(orders, refund_id)
        finished += done.status != RefundStatus.PENDING
    return finished


async def _refund_cancelled(orders: Orders, order_id: uuid.UUID) -> uuid.UUID | None:
    async with unit_of_work(orders.sessionmaker) as session:
        order = await OrderRepository(session).lock(order_id)
        if order is None or order.status != OrderStatus.CANCELLED:
            return None
        reason = "order cancelled"
        opened = await open_remainder(session, order, reason=reason, actor=RECONCILER_ACTOR)
        return None if opened is None else opened.id
