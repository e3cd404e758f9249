"""``product.changed`` outbox messages, at most one per product per transaction.

The search index (Elasticsearch) shows each product's stock (``available``,
the ``in_stock`` filter), so every write of a product *and* every stock change
tells it, in the transaction that makes the change. The handler indexes the
product as it is when the message is delivered, so one message per product per
transaction says all there is to say: a reservation of three products writes
three rows whatever else the transaction did to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import transaction_state
from shop.products.models import outbox
from shop.products.search import PRODUCT_CHANGED


async def product_changed(session: AsyncSession, product_ids: Iterable[uuid.UUID]) -> None:
    """Puts ``product.changed {"id"}`` in the outbox for each of ``product_ids`` that
    this transaction has not announced yet (one INSERT for all of them)."""
    enqueued: set[uuid.UUID] = transaction_state(session, "product_changed_enqueued", set)
    new = sorted(set(product_ids) - enqueued)
    if not new:
        return
    await session.execute(
        insert(outbox).values(
            [{"topic": PRODUCT_CHANGED, "payload": {"id": str(product_id)}} for product_id in new]
        )
    )
    enqueued.update(new)
