"""The system behind its gateway, paying through localstripe, for the card payment
tests (the ``shop`` fixture of tests/orders/conftest.py builds it), and what those
tests ask of it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from tests.orders.stripe_support import WEBHOOK_PATH, LocalStripe
from tests.orders.support import ADDRESS, User
from tests.products.reservation_support import Books

WITHIN = 60.0  # seconds for anything polled to happen: generous, for a loaded machine


@dataclass
class Shop:
    """The system behind its gateway, paying through localstripe."""

    client: httpx.AsyncClient
    db: asyncpg.Connection
    stripe: LocalStripe

    async def order(self, user: User, product: uuid.UUID, quantity: int = 2) -> dict[str, Any]:
        body = {
            "items": [{"product_id": str(product), "quantity": quantity}],
            "shipping_address": ADDRESS,
            "payment_provider": "stripe",
        }
        placed = await self.client.post("/orders", json=body, headers=user.headers)
        assert placed.status_code == 201, placed.text
        order: dict[str, Any] = placed.json()
        return order

    async def read(self, user: User, order_id: str) -> dict[str, Any]:
        answer = await self.client.get(f"/orders/{order_id}", headers=user.headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def until(
        self, user: User, order_id: str, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The order once ``done`` says so (polled; the deadline is generous)."""
        deadline = time.monotonic() + WITHIN
        while True:
            order = await self.read(user, order_id)
            if done(order):
                return order
            assert time.monotonic() < deadline, order
            await asyncio.sleep(0.1)

    async def subjects(self, order: dict[str, Any]) -> list[str]:
        rows = await self.db.fetch(
            "SELECT payload->>'subject' AS subject FROM outbox ORDER BY id",
        )
        return [row["subject"] for row in rows if order["number"] in row["subject"]]

    async def webhook(self, body: bytes, signature: str | None) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["stripe-signature"] = signature
        return await self.client.post(WEBHOOK_PATH, content=body, headers=headers)


ShopFactory = Callable[..., AbstractAsyncContextManager[Shop]]


def confirmed(order: dict[str, Any]) -> bool:
    return bool(order["status"] == "confirmed")


async def until_subjects(running: Shop, order: dict[str, Any], count: int) -> None:
    """Until the order's emails number ``count`` (queued by the outbox)."""
    deadline = time.monotonic() + WITHIN
    while len(await running.subjects(order)) < count:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def lapse(running: Shop, order: dict[str, Any]) -> None:
    """The payment's window closes (its hold ends now)."""
    await running.db.execute(
        "UPDATE payments SET hold_expires_at = now() - interval '1 second' WHERE order_id = $1",
        uuid.UUID(order["id"]),
    )


async def until_levels(books: Books, product: uuid.UUID, levels: tuple[int, int]) -> None:
    """Until the product's ``(on_hand, reserved)`` are ``levels``: a cancelled order's
    units go back after the transaction that cancels it, so an answer that says
    ``cancelled`` may come before them."""
    deadline = time.monotonic() + WITHIN
    while (seen := await books.levels(product)) != levels:
        assert time.monotonic() < deadline, seen
        await asyncio.sleep(0.05)
