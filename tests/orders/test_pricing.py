"""The money arithmetic: properties over generated carts (hypothesis) and the worked
examples of docs/checkout.md."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shop.orders.pricing import (
    Discount,
    DiscountKind,
    Line,
    Shipping,
    Tax,
    Totals,
    discount_amount,
    meets_minimum,
    price,
    round_half_up,
    shipping_amount,
    spread,
)

amounts = st.integers(min_value=0, max_value=10**9)
lines = st.lists(
    st.builds(
        Line,
        unit_price=st.integers(min_value=0, max_value=10**7),
        quantity=st.integers(min_value=1, max_value=1000),
    ),
    min_size=1,
    max_size=30,
)
discounts = st.one_of(
    st.none(),
    st.builds(Discount, kind=st.just(DiscountKind.PERCENTAGE), value=st.integers(1, 100)),
    st.builds(Discount, kind=st.just(DiscountKind.FIXED), value=st.integers(0, 10**10)),
    st.just(Discount(DiscountKind.FREE_SHIPPING)),
)
shippings = st.one_of(
    st.none(),
    st.builds(
        Shipping,
        price=st.integers(0, 10**6),
        free_over=st.one_of(st.none(), st.integers(0, 10**9)),
    ),
)
taxes = st.builds(Tax, rate_bp=st.integers(0, 10_000), applies_to_shipping=st.booleans())


def _all_amounts(totals: Totals) -> list[int]:
    figures = [
        totals.subtotal,
        totals.discount_total,
        totals.shipping_total,
        totals.shipping_tax,
        totals.tax_total,
        totals.total,
    ]
    for line in totals.lines:
        figures += [line.subtotal, line.discount, line.tax, line.total]
    return figures


@given(lines, discounts, shippings, taxes, st.booleans())
def test_every_figure_adds_up_to_the_minor_unit(
    cart: list[Line],
    discount: Discount | None,
    shipping: Shipping | None,
    tax: Tax,
    included: bool,
) -> None:
    totals = price(cart, discount=discount, shipping=shipping, tax=tax, prices_include_tax=included)

    assert all(isinstance(figure, int) and figure >= 0 for figure in _all_amounts(totals))
    assert totals.subtotal == sum(line.unit_price * line.quantity for line in cart)
    assert sum(line.discount for line in totals.lines) == totals.discount_total
    assert totals.discount_total <= totals.subtotal
    assert all(line.discount <= line.subtotal for line in totals.lines)
    assert totals.tax_total == sum(line.tax for line in totals.lines) + totals.shipping_tax
    goods = totals.subtotal - totals.discount_total
    if included:
        assert totals.total == goods + totals.shipping_total
        assert sum(line.total for line in totals.lines) == goods
        assert totals.tax_total <= totals.total
    else:
        assert totals.total == goods + totals.shipping_total + totals.tax_total
        assert sum(line.total for line in totals.lines) == goods + totals.tax_total - (
            totals.shipping_tax
        )
    # The same input always gives the same output.
    again = price(
        list(cart), discount=discount, shipping=shipping, tax=tax, prices_include_tax=included
    )
    assert again == totals


@given(st.data())
def test_spread_adds_up_and_never_exceeds_a_weight(data: st.DataObject) -> None:
    weights = data.draw(st.lists(st.integers(0, 10**9), min_size=1, max_size=50))
    amount = data.draw(st.integers(0, sum(weights)))

    shares = spread(amount, weights)

    assert sum(shares) == amount
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))
    # Proportional to within one unit of the exact share.
    whole = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share * whole - amount * weight) < max(whole, 1)


@given(amounts, st.integers(1, 100))
def test_a_percentage_is_rounded_half_up_and_never_exceeds_the_subtotal(
    amount: int, percent: int
) -> None:
    off = discount_amount(Discount(DiscountKind.PERCENTAGE, percent), amount)
    assert 0 <= off <= amount
    assert abs(off * 100 - amount * percent) <= 50  # within half a minor unit


@given(amounts, amounts)
def test_a_fixed_discount_is_capped_at_the_subtotal(amount: int, value: int) -> None:
    assert discount_amount(Discount(DiscountKind.FIXED, value), amount) == min(value, amount)


def test_rounding_is_half_up() -> None:
    assert [round_half_up(n, 2) for n in range(6)] == [0, 1, 1, 2, 2, 3]
    assert round_half_up(1249, 100) == 12
    assert round_half_up(1250, 100) == 13
    with pytest.raises(ValueError, match="numerator"):
        round_half_up(-1, 2)


def test_ties_of_the_largest_remainder_go_to_the_earlier_line() -> None:
    assert spread(1, [100, 100]) == (1, 0)
    assert spread(2, [100, 100, 100]) == (1, 1, 0)
    assert spread(1, [1, 0, 1]) == (1, 0, 0)
    assert spread(5, [3, 0, 3]) == (3, 0, 2)
    assert spread(0, [0, 0]) == (0, 0)
    with pytest.raises(ValueError, match="amount"):
        spread(3, [1, 1])


def test_minimums_and_free_shipping_compare_inclusively_with_the_subtotal() -> None:
    assert meets_minimum(5000, 5000)
    assert not meets_minimum(4999, 5000)
    assert meets_minimum(0, None)
    standard = Shipping(price=499, free_over=5000)
    assert shipping_amount(standard, 4999, None) == 499
    assert shipping_amount(standard, 5000, None) == 0
    assert shipping_amount(standard, 100, Discount(DiscountKind.FREE_SHIPPING)) == 0
    assert shipping_amount(None, 100, None) == 0
    # free_over looks at the subtotal before the discount.
    totals = price([Line(5000, 1)], discount=Discount(DiscountKind.FIXED, 1000), shipping=standard)
    assert (totals.discount_total, totals.shipping_total, totals.total) == (1000, 0, 4000)


def test_inputs_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="percentage"):
        Discount(DiscountKind.PERCENTAGE, 101)
    with pytest.raises(ValueError, match="basis points"):
        Tax(10_001)
    with pytest.raises(ValueError, match="not negative"):
        Line(-1, 1)


def test_worked_example_tax_exclusive_us() -> None:
    """docs/checkout.md, the US example: 10 % off, 8.25 % sales tax not on shipping."""
    totals = price(
        [Line(1999, 2), Line(1250, 1)],
        discount=Discount(DiscountKind.PERCENTAGE, 10),
        shipping=Shipping(price=799, free_over=7500),
        tax=Tax(825, applies_to_shipping=False),
        prices_include_tax=False,
    )

    assert [(line.subtotal, line.discount, line.tax, line.total) for line in totals.lines] == [
        (3998, 400, 297, 3895),
        (1250, 125, 93, 1218),
    ]
    assert (
        totals.subtotal,
        totals.discount_total,
        totals.shipping_total,
        totals.tax_total,
        totals.total,
    ) == (5248, 525, 799, 390, 5912)


def test_worked_example_tax_inclusive_eu() -> None:
    """docs/checkout.md, the German example: 10.00 off, 19 % VAT contained, also in
    shipping."""
    totals = price(
        [Line(2999, 1), Line(1499, 3)],
        discount=Discount(DiscountKind.FIXED, 1000),
        shipping=Shipping(price=490, free_over=10000),
        tax=Tax(1900, applies_to_shipping=True),
        prices_include_tax=True,
    )

    assert [(line.subtotal, line.discount, line.tax, line.total) for line in totals.lines] == [
        (2999, 400, 415, 2599),
        (4497, 600, 622, 3897),
    ]
    assert (
        totals.subtotal,
        totals.discount_total,
        totals.shipping_total,
        totals.shipping_tax,
        totals.tax_total,
        totals.total,
    ) == (7496, 1000, 490, 78, 1115, 6986)
