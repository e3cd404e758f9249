"""What the use cases that span transactions work with."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.identity import Identity
from shop.orders.config import OrdersSettings
from shop.orders.emails import OrderEmails
from shop.orders.products_client import ProductsClient

RECONCILER_ACTOR = "system:reconciler"


@dataclass(frozen=True)
class Orders:
    sessionmaker: async_sessionmaker[AsyncSession]
    products: ProductsClient
    emails: OrderEmails
    settings: OrdersSettings


def actor_of(identity: Identity) -> str:
    """How the history names a caller."""
    return f"{'admin' if identity.is_admin else 'user'}:{identity.user_id}"
