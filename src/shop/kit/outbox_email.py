"""Emails through the outbox: queued in the transaction of the change that causes
them (:func:`enqueue_email`), sent by the outbox worker (:func:`email_handler`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.email import EmailMessage, EmailSender
from shop.kit.outbox import Handler, enqueue

EMAIL_TOPIC = "email"


async def enqueue_email(session: AsyncSession, table: Table, message: EmailMessage) -> None:
    await enqueue(session, table, EMAIL_TOPIC, message.to_payload(), message.message_id)


def email_handler(sender: EmailSender) -> Handler:
    """The handler of the ``"email"`` topic."""

    async def handle(payload: dict[str, Any]) -> None:
        await sender.send(EmailMessage.from_payload(payload))

    return handle
