"""The order emails, queued in the outbox in the transaction of the change they tell of."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.email import EmailRenderer
from shop.kit.outbox_email import enqueue_email
from shop.orders.models import Order, OrderLine, outbox

# ISO 4217 minor unit exponents that are not 2.
_ZERO_DECIMALS = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX")
_ZERO_DECIMALS_TOO = ("VND", "VUV", "XAF", "XOF", "XPF")
_THREE_DECIMALS = ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")
_EXPONENTS = {
    **dict.fromkeys(_ZERO_DECIMALS, 0),
    **dict.fromkeys(_ZERO_DECIMALS_TOO, 0),
    **dict.fromkeys(_THREE_DECIMALS, 3),
}


def format_money(minor_units: int, currency: str | None) -> str:
    """``1999, "USD"`` → ``"19.99 USD"``: integer minor units, never floats."""
    code = currency or ""
    exponent = _EXPONENTS.get(code, 2)
    amount = Decimal(minor_units).scaleb(-exponent)
    return f"{amount:,.{exponent}f} {code}".strip()


def _line(line: OrderLine, currency: str | None) -> dict[str, object]:
    return {
        "name": line.name,
        "variant_title": line.variant_title,
        "sku": line.sku,
        "quantity": line.quantity,
        "unit_price": format_money(line.unit_price, currency),
        "discount": format_money(line.discount, currency) if line.discount else "",
        "line_total": format_money(line.line_total, currency),
    }


class OrderEmails:
    def __init__(
        self, renderer: EmailRenderer, public_base_url: str, *, prices_include_tax: bool = False
    ) -> None:
        self.renderer = renderer
        self.public_base_url = public_base_url.rstrip("/")
        self.prices_include_tax = prices_include_tax

    def _link(self, order: Order) -> str:
        return f"{self.public_base_url}/orders/{order.id}"

    async def confirmed(self, session: AsyncSession, order: Order, lines: list[OrderLine]) -> None:
        message = self.renderer.render(
            "order_confirmed",
            to=order.email,
            number=order.number,
            lines=[_line(line, order.currency) for line in lines],
            subtotal=format_money(order.subtotal, order.currency),
            discount=format_money(order.discount_total, order.currency)
            if order.discount_total
            else "",
            promotion_code=order.promotion_code or "",
            shipping=format_money(order.shipping_total, order.currency),
            shipping_method=(order.shipping_method or {}).get("name", ""),
            tax=format_money(order.tax_total, order.currency),
            tax_included=self.prices_include_tax,
            total=format_money(order.total, order.currency),
            address=order.shipping_address,
            link=self._link(order),
        )
        await enqueue_email(session, outbox, message)

    async def shipped(self, session: AsyncSession, order: Order) -> None:
        message = self.renderer.render(
            "order_shipped",
            to=order.email,
            number=order.number,
            tracking_number=order.tracking_number or "",
            address=order.shipping_address,
            link=self._link(order),
        )
        await enqueue_email(session, outbox, message)

    async def payment_received(self, session: AsyncSession, order: Order, amount: int) -> None:
        message = self.renderer.render(
            "payment_received",
            to=order.email,
            number=order.number,
            amount=format_money(amount, order.currency),
            link=self._link(order),
        )
        await enqueue_email(session, outbox, message)

    async def refund_issued(
        self,
        session: AsyncSession,
        order: Order,
        *,
        amount: int,
        reason: str,
        refunded: int,
        paid: int,
    ) -> None:
        """``amount`` refunded now; ``refunded`` in all, of the ``paid``."""
        message = self.renderer.render(
            "refund_issued",
            to=order.email,
            number=order.number,
            amount=format_money(amount, order.currency),
            reason=reason,
            refunded=format_money(refunded, order.currency),
            paid=format_money(paid, order.currency),
            link=self._link(order),
        )
        await enqueue_email(session, outbox, message)
