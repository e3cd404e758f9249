"""Promotion codes at the cart and at checkout: is a code applicable, claim a use when an
order is placed, give it back when that order is cancelled.

Counting is race-safe: a claim locks the promotion's row (``SELECT ... FOR UPDATE``)
before it reads ``times_used`` and the customer's uses, so claims of one code queue up
and however many race for the last use, exactly one gets it. A use is recorded under
its order's id: claiming again for that order, or giving back twice, changes nothing.
The functions take the caller's session (checkout's transaction) and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.orders.errors import (
    OrderHasPromotionError,
    PromotionCustomerExhaustedError,
    PromotionCustomerLimitError,
    PromotionExhaustedError,
    PromotionExpiredError,
    PromotionInactiveError,
    PromotionMinSubtotalError,
    PromotionNotStartedError,
    PromotionRefusedError,
    PromotionUnknownError,
    PromotionUsedUpError,
)
from shop.orders.pricing import Discount, DiscountKind, meets_minimum
from shop.orders.pricing_models import Promotion
from shop.orders.pricing_repository import PromotionRepository, PromotionUseRepository


@dataclass(frozen=True)
class Customer:
    """Who uses a code: the signed-in user (if any) and the order's email."""

    user_id: uuid.UUID | None
    email: str


def refusal(
    promotion: Promotion, *, subtotal: int, now: datetime, customer_uses: int | None
) -> PromotionRefusedError | None:
    """Why the promotion can't apply to a cart of ``subtotal`` (before discounts) at
    ``now``, the customer having used it ``customer_uses`` times (None: not known yet),
    or None if it applies."""
    if not promotion.active:
        return PromotionInactiveError("This promotion code is no longer active.")
    if promotion.starts_at is not None and now < promotion.starts_at:
        return PromotionNotStartedError("This promotion code is not valid yet.")
    if promotion.ends_at is not None and now >= promotion.ends_at:
        return PromotionExpiredError("This promotion code has expired.")
    if promotion.usage_limit is not None and promotion.times_used >= promotion.usage_limit:
        return PromotionUsedUpError("This promotion code has no uses left.")
    if not meets_minimum(subtotal, promotion.min_subtotal):
        return PromotionMinSubtotalError(
            f"This promotion code needs a subtotal of at least {promotion.min_subtotal}.",
            min_subtotal=promotion.min_subtotal,
        )
    limit = promotion.per_customer_limit
    if limit is not None and customer_uses is not None and customer_uses >= limit:
        return PromotionCustomerLimitError(
            "You have used this promotion code as often as it allows."
        )
    return None


def discount_of(promotion: Promotion) -> Discount:
    """What the promotion takes off, for :func:`shop.orders.pricing.price`."""
    if promotion.kind is DiscountKind.FREE_SHIPPING:
        return Discount(DiscountKind.FREE_SHIPPING)
    return Discount(promotion.kind, promotion.value or 0)


async def _customer_uses(
    session: AsyncSession, promotion: Promotion, customer: Customer | None
) -> int | None:
    if customer is None or promotion.per_customer_limit is None:
        return None
    return await PromotionUseRepository(session).count_by_customer(
        promotion.id, customer.user_id, customer.email
    )


async def check_code(
    session: AsyncSession,
    code: str,
    *,
    subtotal: int,
    customer: Customer | None,
    now: datetime,
) -> Promotion:
    """The promotion of ``code`` if it applies to this cart now; else the refusal
    (a :class:`PromotionRefusedError`, 422 with its ``reason``). Reads only: a use is
    counted by :func:`claim`, at checkout."""
    promotion = await PromotionRepository(session).by_code(code)
    if promotion is None:
        raise PromotionUnknownError("No promotion has this code.")
    uses = await _customer_uses(session, promotion, customer)
    refused = refusal(promotion, subtotal=subtotal, now=now, customer_uses=uses)
    if refused is not None:
        raise refused
    return promotion


async def claim(
    session: AsyncSession,
    code: str,
    *,
    order_id: uuid.UUID,
    customer: Customer,
    subtotal: int,
    now: datetime,
) -> Promotion:
    """Counts a use of ``code`` for the order being placed, in the caller's transaction.

    The last uses are contended: when none is left the claim is refused 409
    (:class:`PromotionExhaustedError`, or :class:`PromotionCustomerExhaustedError` for
    the customer's own limit); any other refusal is the 422 of :func:`check_code`. A
    second claim for the same order returns the promotion without counting again."""
    promotions = PromotionRepository(session)
    uses = PromotionUseRepository(session)
    promotion = await promotions.by_code(code, lock=True)  # claims of this code queue here
    if promotion is None:
        raise PromotionUnknownError("No promotion has this code.")
    recorded = await uses.of_order(order_id)
    if recorded is not None:
        if recorded.promotion_id != promotion.id:
            raise OrderHasPromotionError
        return promotion
    refused = refusal(
        promotion,
        subtotal=subtotal,
        now=now,
        customer_uses=await _customer_uses(session, promotion, customer),
    )
    if isinstance(refused, PromotionUsedUpError):
        raise PromotionExhaustedError
    if isinstance(refused, PromotionCustomerLimitError):
        raise PromotionCustomerExhaustedError
    if refused is not None:
        raise refused
    await uses.record(promotion.id, order_id, customer.user_id, customer.email)
    await promotions.count_use(promotion.id, +1)
    return promotion


async def give_back(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """Gives back the use the order counted (its order was cancelled); false if it had
    none (never claimed, or given back already)."""
    promotion_id = await PromotionUseRepository(session).remove(order_id)
    if promotion_id is None:
        return False
    await PromotionRepository(session).count_use(promotion_id, -1)
    return True
