"""The money arithmetic of carts and orders: pure functions on integer minor units.

Everything a cart or an order shows (subtotal, discount, shipping, tax, total and each
line's share of them) is computed here and nowhere else, from small frozen inputs, with
integers only: no floats, no Decimal, no rounding modes to configure. The same input
always gives the same output. See docs/checkout.md for the rules and worked examples.

Rounding is half up (amounts are never negative): ``round_half_up(5, 2) == 3``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

BASIS_POINTS = 10_000  # a rate of 100 %
MAX_PERCENT = 100


class DiscountKind(enum.StrEnum):
    PERCENTAGE = "percentage"
    FIXED = "fixed"
    FREE_SHIPPING = "free_shipping"


@dataclass(frozen=True)
class Line:
    """A line as priced: the catalog's unit price (minor units) and a quantity."""

    unit_price: int
    quantity: int

    def __post_init__(self) -> None:
        if self.unit_price < 0 or self.quantity < 0:
            raise ValueError("a line's unit_price and quantity are not negative")

    @property
    def subtotal(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Discount:
    """A promotion's effect: a percentage (1-100), a fixed amount, or free shipping."""

    kind: DiscountKind
    value: int = 0

    def __post_init__(self) -> None:
        if self.kind is DiscountKind.PERCENTAGE and not 1 <= self.value <= MAX_PERCENT:
            raise ValueError("a percentage discount is 1-100")
        if self.value < 0:
            raise ValueError("a discount is not negative")


@dataclass(frozen=True)
class Shipping:
    """A shipping method's price, and the subtotal from which it is free (inclusive)."""

    price: int
    free_over: int | None = None

    def __post_init__(self) -> None:
        if self.price < 0 or (self.free_over is not None and self.free_over < 0):
            raise ValueError("shipping amounts are not negative")


@dataclass(frozen=True)
class Tax:
    """The rate that applies to the address, in basis points (0-10000)."""

    rate_bp: int
    applies_to_shipping: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.rate_bp <= BASIS_POINTS:
            raise ValueError("a tax rate is 0-10000 basis points")


NO_TAX = Tax(0)


@dataclass(frozen=True)
class PricedLine:
    subtotal: int  # unit_price * quantity
    discount: int  # this line's share of the discount
    tax: int  # added (tax-exclusive prices) or contained (tax-inclusive)
    total: int  # what the customer pays for the line


@dataclass(frozen=True)
class Totals:
    lines: tuple[PricedLine, ...]
    subtotal: int
    discount_total: int
    shipping_total: int
    shipping_tax: int  # part of tax_total
    tax_total: int
    total: int


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves up (both ≥ 0)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up takes a numerator ≥ 0 and a denominator > 0")
    return (2 * numerator + denominator) // (2 * denominator)


def subtotal(lines: Sequence[Line]) -> int:
    return sum(line.subtotal for line in lines)


def meets_minimum(amount: int, minimum: int | None) -> bool:
    """``min_subtotal`` and ``free_over`` compare with the subtotal before discounts,
    inclusive (≥); no minimum is always met."""
    return minimum is None or amount >= minimum


def discount_amount(discount: Discount | None, amount: int) -> int:
    """The discount on ``amount`` (the subtotal): a percentage rounded half up, a fixed
    amount capped at the subtotal; free shipping (or none) takes nothing off the lines."""
    if discount is None or discount.kind is DiscountKind.FREE_SHIPPING:
        return 0
    if discount.kind is DiscountKind.PERCENTAGE:
        return round_half_up(amount * discount.value, MAX_PERCENT)
    return min(discount.value, amount)


def shipping_amount(shipping: Shipping | None, amount: int, discount: Discount | None) -> int:
    """What shipping costs for a subtotal of ``amount``: nothing without a method, with a
    free-shipping promotion, or from ``free_over`` on (inclusive)."""
    if shipping is None:
        return 0
    if discount is not None and discount.kind is DiscountKind.FREE_SHIPPING:
        return 0
    if shipping.free_over is not None and meets_minimum(amount, shipping.free_over):
        return 0
    return shipping.price


def spread(amount: int, weights: Sequence[int]) -> tuple[int, ...]:
    """``amount`` shared out in proportion to ``weights`` by the largest remainder method:
    the shares add up to ``amount`` exactly, none exceeds its weight. Each share is first
    rounded down; the units left over go one each to the largest remainders, ties to the
    earlier weight (so the same input always gets the same shares)."""
    whole = sum(weights)
    if amount < 0 or any(weight < 0 for weight in weights) or amount > whole:
        raise ValueError("spread takes 0 ≤ amount ≤ sum(weights), no weight negative")
    if amount == 0:
        return tuple(0 for _ in weights)
    shares = [amount * weight // whole for weight in weights]
    remainders = [amount * weight % whole for weight in weights]
    left_over = amount - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for index in by_remainder[:left_over]:
        shares[index] += 1
    return tuple(shares)


def tax_on(amount: int, tax: Tax, *, included: bool) -> int:
    """The tax of ``amount`` at ``tax.rate_bp``, rounded half up. Tax-exclusive: added on
    top, ``amount * rate / 10000``. Tax-inclusive: the part of ``amount`` that is tax,
    ``amount * rate / (10000 + rate)`` (the price is net * (1 + rate))."""
    if included:
        return round_half_up(amount * tax.rate_bp, BASIS_POINTS + tax.rate_bp)
    return round_half_up(amount * tax.rate_bp, BASIS_POINTS)


def price(
    lines: Sequence[Line],
    *,
    discount: Discount | None = None,
    shipping: Shipping | None = None,
    tax: Tax = NO_TAX,
    prices_include_tax: bool = False,
) -> Totals:
    """Every figure of a cart: the discount spread over the lines, tax per line on its
    discounted amount (and on shipping where the rate says so), and the total.

    Tax-exclusive: ``total = subtotal - discount_total + shipping_total + tax_total``.
    Tax-inclusive: ``total = subtotal - discount_total + shipping_total``, and
    ``tax_total`` is the tax those amounts contain.
    """
    amount = subtotal(lines)
    discount_total = discount_amount(discount, amount)
    shares = spread(discount_total, [line.subtotal for line in lines])
    priced: list[PricedLine] = []
    for line, share in zip(lines, shares, strict=True):
        discounted = line.subtotal - share
        line_tax = tax_on(discounted, tax, included=prices_include_tax)
        line_total = discounted if prices_include_tax else discounted + line_tax
        priced.append(PricedLine(line.subtotal, share, line_tax, line_total))
    shipping_total = shipping_amount(shipping, amount, discount)
    shipping_tax = (
        tax_on(shipping_total, tax, included=prices_include_tax) if tax.applies_to_shipping else 0
    )
    tax_total = sum(line.tax for line in priced) + shipping_tax
    total = amount - discount_total + shipping_total
    if not prices_include_tax:
        total += tax_total
    return Totals(
        lines=tuple(priced),
        subtotal=amount,
        discount_total=discount_total,
        shipping_total=shipping_total,
        shipping_tax=shipping_tax,
        tax_total=tax_total,
        total=total,
    )
