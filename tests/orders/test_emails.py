"""Confirmation, shipped, payment received and refund issued emails, through the outbox,
to a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from shop.cli.processes import free_port
from tests.orders.conftest import EnvFactory
from tests.orders.test_carts import Carts
from tests.orders.test_priced_orders import TEXAS, us_pricing
from tests.orders.test_refunds import mark_paid, refund


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    async def wait_for(self, count: int, within: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} emails did not arrive within {within} s")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _text(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body((kind,))
    assert part is not None
    content: str = part.get_content()
    return content


async def test_confirmation_and_shipped_emails_arrive(
    make_env: EnvFactory, products_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    overrides = {
        "email_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "email_from": "Shop <orders@shop.example>",
    }
    async with make_env(products_url, **overrides) as env:
        lamp = await env.books.product(5, price=4500, name="Desk <Lamp>")
        mug = await env.books.product(10, price=123456, name="Gold Mug")
        ada = await env.tokens.user(email="ada@example.com")
        admin = await env.tokens.admin()

        order = await env.placed(ada, (lamp, 2), (mug, 1))

        [confirmation] = await inbox.wait_for(1)
        assert confirmation["To"] == "ada@example.com"
        assert confirmation["From"] == "Shop <orders@shop.example>"
        assert order["number"] in confirmation["Subject"]
        text = _text(confirmation)
        assert order["number"] in text
        assert "2 \u00d7 Desk <Lamp> (" in text
        assert "at 45.00 USD: 90.00 USD" in text
        assert "1 \u00d7 Gold Mug (" in text
        assert "at 1,234.56 USD: 1,234.56 USD" in text
        assert "Total: 1,324.56 USD" in text
        assert f"https://shop.example/orders/{order['id']}" in text
        html = _text(confirmation, "html")
        assert "Desk &lt;Lamp&gt;" in html
        assert "<Lamp>" not in html

        shipped = await env.set_status(
            admin, order["id"], status="shipped", tracking_number="1Z999AA10123456784"
        )
        assert shipped.status_code == 200, shipped.text

        notice = (await inbox.wait_for(2))[1]
        assert notice["To"] == "ada@example.com"
        assert "shipped" in notice["Subject"]
        assert "1Z999AA10123456784" in _text(notice)
        assert "1Z999AA10123456784" in _text(notice, "html")
        assert order["number"] in _text(notice)

        # Delivering sends nothing; every message went out once.
        await env.set_status(admin, order["id"], status="delivered")
        await asyncio.sleep(0.3)
        assert len(inbox.messages) == 2
        assert await env.db.fetchval("SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0


async def test_a_failed_placement_sends_nothing(
    make_env: EnvFactory, products_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    overrides = {"email_backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port}
    async with make_env(products_url, smtp_starttls=False, **overrides) as env:
        product = await env.books.product(1)
        ada = await env.tokens.user()
        assert (await env.place(ada, (product, 2))).status_code == 409
        await asyncio.sleep(0.3)
        assert inbox.messages == []
        assert await env.db.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_guests_confirmation_shows_variants_discount_shipping_and_tax(
    make_env: EnvFactory, products_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    overrides = {
        "email_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "manual_payments_for_guests": True,
    }
    async with make_env(products_url, **overrides) as env:
        _, sizes = await env.books.product_with_variants({"S": 3, "M": 3}, price=2000)
        method_id, code = await us_pricing(env)
        guest = Carts(env)
        cart = await guest.create(email="guest@example.com")
        await guest.add(cart["id"], 2, variant_id=sizes["M"])
        await guest.ok("PUT", f"/{cart['id']}/shipping-address", **TEXAS)
        await guest.ok("PUT", f"/{cart['id']}/shipping-method", shipping_method_id=method_id)
        await guest.ok("POST", f"/{cart['id']}/promotions", code=code)
        checkout = await env.client.post(f"/api/v1/carts/{cart['id']}/checkout")
        assert checkout.status_code == 201, checkout.text

        [confirmation] = await inbox.wait_for(1)

    assert confirmation["To"] == "guest@example.com"
    text = _text(confirmation)
    # 40.00 - 10 % = 36.00; Texas 8.25 % of it 2.97; shipping 7.99 (below 75.00).
    assert ", M (" in text
    assert "at 20.00 USD, 4.00 USD off: 38.97 USD" in text
    assert "Subtotal: 40.00 USD" in text
    assert "Discount (TEN): \u22124.00 USD" in text
    assert "Shipping (Ground): 7.99 USD" in text
    assert "Tax: 2.97 USD" in text
    assert "Total: 46.96 USD" in text
    html = _text(confirmation, "html")
    assert "Shipping (Ground): 7.99 USD" in html
    assert "Total: <strong>46.96 USD</strong>" in html


async def test_payment_received_and_refund_issued_emails_arrive(
    make_env: EnvFactory, products_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    overrides = {
        "email_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
    }
    async with make_env(products_url, **overrides) as env:
        product = await env.books.product(5, price=4500)
        ada = await env.tokens.user(email="ada@example.com")
        admin = await env.tokens.admin()
        order = await env.placed(ada, (product, 2))
        await inbox.wait_for(1)  # the confirmation

        assert (await mark_paid(env, admin, order["id"])).status_code == 200
        received = (await inbox.wait_for(2))[1]
        assert received["To"] == "ada@example.com"
        assert received["Subject"] == f"Payment received for your order {order['number']}"
        assert "your payment of 90.00 USD" in _text(received)
        assert "90.00 USD" in _text(received, "html")

        made = await refund(env, admin, order["id"], amount=1250, reason="A <chipped> cup")
        assert made.status_code == 201, made.text
        issued = (await inbox.wait_for(3))[2]
        assert issued["To"] == "ada@example.com"
        assert issued["Subject"] == f"A refund for your order {order['number']}"
        text = _text(issued)
        assert "We have refunded 12.50 USD" in text
        assert "Reason: A <chipped> cup" in text
        assert "In all, 12.50 USD of the 90.00 USD you paid" in text
        assert "A &lt;chipped&gt; cup" in _text(issued, "html")
        assert f"https://shop.example/orders/{order['id']}" in text

        # Marking it paid again sends nothing more; every message went out once.
        assert (await mark_paid(env, admin, order["id"])).status_code == 200
        assert await env.db.fetchval("SELECT count(*) FROM outbox") == 3
        assert len(inbox.messages) == 3
