"""What the use cases that span transactions work with.

A function that takes :class:`Orders` and no session commits its own units of
work (``unit_of_work(orders.sessionmaker)``), one per step, and holds none open
across a call to the products service.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.identity import Identity
from shop.orders.config import OrdersSettings
from shop.orders.emails import OrderEmails
from shop.orders.payment_providers.registry import PaymentProviders
from shop.orders.products_client import ProductsClient
from shop.orders.sellable_cache import SellableCache

RECONCILER_ACTOR = "system:reconciler"


@dataclass(frozen=True)
class Orders:
    sessionmaker: async_sessionmaker[AsyncSession]
    products: ProductsClient
    emails: OrderEmails
    settings: OrdersSettings
    catalog: SellableCache  # the carts' view of current prices and stock
    payments: PaymentProviders  # the payment providers enabled (PAYMENT_PROVIDERS)


def actor_of(identity: Identity) -> str:
    """How the history names a caller."""
    return f"{'admin' if identity.is_admin else 'user'}:{identity.user_id}"
