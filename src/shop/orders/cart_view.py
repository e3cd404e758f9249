"""A cart as the API shows it: every line at the catalog's current price, every figure
from :func:`shop.orders.pricing.price`, and the ``problems`` that would stop a checkout.

:func:`load_rules` reads what prices the cart besides the catalog (its shipping method,
its address's tax rate, its promotion and the customer's uses of it) on the caller's
session; :func:`price_cart` is then plain computation on those and the catalog's answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.contracts.sellables import SellableOut
from shop.orders import pricing
from shop.orders.cart_models import Cart, CartLine
from shop.orders.cart_schemas import (
    CartItemOut,
    CartOut,
    CartShippingMethodOut,
    ProblemOut,
)
from shop.orders.pricing_lookup import offers, shipping_of, tax_for
from shop.orders.pricing_models import Promotion, ShippingMethod
from shop.orders.pricing_repository import (
    PromotionRepository,
    PromotionUseRepository,
    ShippingMethodRepository,
)
from shop.orders.promotion_uses import discount_of, refusal
from shop.orders.schemas import AddressOut

UNAVAILABLE = ("archived", "unknown")


@dataclass(frozen=True)
class Rules:
    """What prices a cart besides the catalog, as the database has it now."""

    method: ShippingMethod | None = None
    tax: pricing.Tax = pricing.NO_TAX
    promotion: Promotion | None = None
    promotion_known: bool = True  # False: no promotion has the cart's code
    customer_uses: int | None = None


@dataclass
class PricedCart:
    """The cart's view, and what its checkout needs to know of it."""

    out: CartOut
    problems: list[ProblemOut] = field(default_factory=list)


async def load_rules(session: AsyncSession, cart: Cart) -> Rules:
    address = cart.shipping_address
    method = None
    if cart.shipping_method_id is not None:
        method = await ShippingMethodRepository(session).get(cart.shipping_method_id)
    tax = pricing.NO_TAX
    if address is not None:
        tax = await tax_for(session, address["country"], address.get("region"))
    promotion, uses, known = None, None, True
    if cart.promotion_code is not None:
        promotion = await PromotionRepository(session).by_code(cart.promotion_code)
        known = promotion is not None
        if promotion is not None and promotion.per_customer_limit is not None:
            uses = await PromotionUseRepository(session).count_by_customer(
                promotion.id, cart.user_id, cart.email or ""
            )
    return Rules(method, tax, promotion, known, uses)


def _line_problem(line: CartLine, info: SellableOut | None) -> ProblemOut | None:
    if info is None:
        return ProblemOut(reason="unknown", item_id=line.id, detail="No longer in the catalog.")
    if not info.orderable:
        return ProblemOut(reason="archived", item_id=line.id, detail="No longer sold.")
    if info.available < line.quantity:
        return ProblemOut(
            reason="insufficient-stock",
            item_id=line.id,
            requested=line.quantity,
            available=info.available,
            detail="Not enough stock.",
        )
    return None


def price_cart(
    cart: Cart,
    rules: Rules,
    catalog: Mapping[uuid.UUID, SellableOut],
    *,
    prices_include_tax: bool,
    now: datetime,
) -> PricedCart:
    """Every figure of the cart. Lines the catalog no longer sells are shown, priced at
    0 and left out of the totals; a code or a method that no longer applies is shown and
    not applied; each is listed in ``problems``."""
    problems: list[ProblemOut] = []
    priced_lines: list[CartLine] = []
    for line in cart.lines:
        info = catalog.get(line.variant_id)
        found = _line_problem(line, info)
        if found is not None:
            problems.append(found)
        if found is None or found.reason not in UNAVAILABLE:
            priced_lines.append(line)
    currencies = {catalog[line.variant_id].currency for line in priced_lines}
    if len(currencies) > 1:
        problems.append(ProblemOut(reason="mixed-currencies", detail="Prices differ in currency."))
    amounts = [
        pricing.Line(catalog[line.variant_id].unit_price, line.quantity) for line in priced_lines
    ]
    subtotal = pricing.subtotal(amounts)

    discount = None
    if cart.promotion_code is not None:
        refused = _promotion_problem(rules, subtotal, now)
        if refused is not None:
            problems.append(refused)
        elif rules.promotion is not None:
            discount = discount_of(rules.promotion)
    shipping, method_out = None, None
    if rules.method is not None:
        country = (cart.shipping_address or {}).get("country", "")
        if offers(rules.method, country):
            shipping = shipping_of(rules.method)
            method_out = CartShippingMethodOut(
                id=rules.method.id,
                name=rules.method.name,
                price=pricing.shipping_amount(shipping, subtotal, None),
                min_days=rules.method.min_days,
                max_days=rules.method.max_days,
            )
        else:
            problems.append(
                ProblemOut(
                    reason="shipping-method-not-offered",
                    detail="The shipping method is not offered for the address; choose another.",
                )
            )
    totals = pricing.price(
        amounts,
        discount=discount,
        shipping=shipping,
        tax=rules.tax,
        prices_include_tax=prices_include_tax,
    )
    by_line = dict(zip((line.id for line in priced_lines), totals.lines, strict=True))
    items = [_item(line, catalog.get(line.variant_id), by_line.get(line.id)) for line in cart.lines]
    out = CartOut(
        id=cart.id,
        status=cart.status,
        email=cart.email,
        items=items,
        shipping_address=(
            None
            if cart.shipping_address is None
            else AddressOut.model_validate(cart.shipping_address)
        ),
        shipping_method=method_out,
        promotion_code=cart.promotion_code,
        subtotal=totals.subtotal,
        discount_total=totals.discount_total,
        shipping_total=totals.shipping_total,
        tax_total=totals.tax_total,
        total=totals.total,
        currency=min(currencies) if currencies else None,
        problems=problems,
        updated_at=cart.updated_at,
        expires_at=cart.expires_at,
    )
    return PricedCart(out, problems)


def _promotion_problem(rules: Rules, subtotal: int, now: datetime) -> ProblemOut | None:
    if not rules.promotion_known or rules.promotion is None:
        return ProblemOut(reason="promotion-unknown", detail="No promotion has this code.")
    refused = refusal(
        rules.promotion, subtotal=subtotal, now=now, customer_uses=rules.customer_uses
    )
    if refused is None:
        return None
    return ProblemOut(reason=f"promotion-{refused.reason}", detail=refused.detail)


def _item(
    line: CartLine, info: SellableOut | None, priced: pricing.PricedLine | None
) -> CartItemOut:
    unit_price = info.unit_price if info is not None and priced is not None else 0
    return CartItemOut(
        id=line.id,
        variant_id=line.variant_id,
        product_id=line.product_id,
        sku=None if info is None else info.sku,
        name=None if info is None else info.name,
        variant_title=None if info is None else info.variant_title,
        unit_price=unit_price,
        quantity=line.quantity,
        line_subtotal=0 if priced is None else priced.subtotal,
        discount=0 if priced is None else priced.discount,
        tax=0 if priced is None else priced.tax,
        line_total=0 if priced is None else priced.total,
        available=0 if info is None else info.available,
    )
