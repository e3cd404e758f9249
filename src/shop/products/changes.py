"""The one way to announce that products changed: every writer calls :func:`announce`.

Two listeners hear of a change, in the transaction that makes it:

- the read cache (:mod:`shop.products.cache`), after the commit: a change of the
  catalog (a product's fields, a category, an image) invalidates every cached
  read; a change of stock only the reads of those products (listings within the
  cache's staleness window);
- the search index, through ``product.changed {"id"}`` outbox messages, at most
  one per product per transaction. The index (Elasticsearch) shows each
  product's stock (``available``, the ``in_stock`` filter), so stock changes
  tell it too. Its handler indexes the product as it is when the message is
  delivered, so one message per product per transaction says all there is to
  say: a reservation of three products writes three rows whatever else the
  transaction did to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from shop.kit.db import transaction_state
from shop.products.cache import CatalogCache
from shop.products.repositories import OutboxRepository
from shop.products.search import PRODUCT_CHANGED


async def announce(
    session: AsyncSession,
    cache: CatalogCache | None,
    product_ids: Iterable[uuid.UUID] = (),
    *,
    stock_only: bool = False,
    notify_search: bool = True,
) -> None:
    """``product_ids`` changed in ``session``'s transaction (none: only categories).

    ``stock_only``: only their stock changed (the cache then keeps other reads).
    ``notify_search``: false where the search backend does not index stock (the
    PostgreSQL one, whose handler does nothing).
    """
    changed = set(product_ids)
    if cache is not None:
        if not stock_only:
            cache.invalidate_after_commit(session)
        elif changed:
            cache.stock_changed_after_commit(session, changed)
    if notify_search:
        await _product_changed(session, changed)


async def _product_changed(session: AsyncSession, product_ids: set[uuid.UUID]) -> None:
    """``product.changed`` for each of ``product_ids`` that this transaction has not
    announced yet (one INSERT for all of them)."""
    enqueued: set[uuid.UUID] = transaction_state(session, "product_changed_enqueued", set)
    new = sorted(product_ids - enqueued)
    if not new:
        return
    await OutboxRepository(session).put_many(
        PRODUCT_CHANGED, [{"id": str(product_id)} for product_id in new]
    )
    enqueued.update(new)
