"""An order as the API shows it (its lines, history, payment and refunds must be loaded)."""

from __future__ import annotations

from shop.orders.models import Order
from shop.orders.payment_models import Payment, PaymentState, Refund
from shop.orders.schemas import (
    AddressOut,
    HistoryOut,
    OrderItemOut,
    OrderOut,
    PaymentOut,
    RefundOut,
    ShippingMethodSnapshot,
)


def refund_out(refund: Refund) -> RefundOut:
    return RefundOut(
        id=refund.id,
        amount=refund.amount,
        reason=refund.reason,
        status=refund.status,
        created_at=refund.created_at,
    )


def payment_out(payment: Payment | None, *, to_owner: bool) -> PaymentOut | None:
    """``client_secret`` pays the order: only its owner gets it, only while awaiting."""
    if payment is None:
        return None
    secret = payment.client_secret if to_owner and payment.status is PaymentState.AWAITING else None
    return PaymentOut(
        provider=payment.provider,
        status=payment.status,
        amount=payment.amount,
        currency=payment.currency,
        client_secret=secret,
        paid_at=payment.paid_at,
        last_error=payment.last_error if payment.status is PaymentState.AWAITING else None,
    )


def order_out(order: Order, *, to_owner: bool = False) -> OrderOut:
    """``to_owner``: the answer goes to the order's owner (the customer who placed it,
    or whoever holds a guest order's token), who may see its payment's client secret."""
    return OrderOut(
        id=order.id,
        number=order.number,
        status=order.status,
        payment_status=order.payment_status,
        payment=payment_out(order.payment, to_owner=to_owner),
        user_id=order.user_id,
        email=order.email,
        items=[
            OrderItemOut(
                product_id=line.product_id,
                variant_id=line.variant_id,
                sku=line.sku,
                name=line.name,
                variant_title=line.variant_title,
                unit_price=line.unit_price,
                quantity=line.quantity,
                line_subtotal=line.unit_price * line.quantity,
                discount=line.discount,
                tax=line.tax,
                line_total=line.line_total,
            )
            for line in order.lines
        ],
        subtotal=order.subtotal,
        discount_total=order.discount_total,
        shipping_total=order.shipping_total,
        tax_total=order.tax_total,
        total=order.total,
        promotion_code=order.promotion_code,
        shipping_method=(
            None
            if order.shipping_method is None
            else ShippingMethodSnapshot.model_validate(order.shipping_method)
        ),
        currency=order.currency,
        shipping_address=AddressOut.model_validate(order.shipping_address),
        tracking_number=order.tracking_number,
        history=[HistoryOut(status=e.status, at=e.at, note=e.note) for e in order.events],
        refunds=[refund_out(refund) for refund in order.refunds],
        created_at=order.created_at,
    )
