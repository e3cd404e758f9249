"""Queries of carts. Flushes only; the caller commits."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shop.orders.cart_models import Cart, CartLine


class CartRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, cart_id: uuid.UUID, *, lock: bool = False) -> Cart | None:
        """The cart with its lines (two queries: the cart, its lines by their index);
        ``lock``: its row locked until the transaction ends, so changes of one cart queue."""
        query = (
            select(Cart)
            .where(Cart.id == cart_id)
            .options(selectinload(Cart.lines))
            .execution_options(populate_existing=True)
        )
        if lock:
            query = query.with_for_update(of=Cart)
        cart: Cart | None = await self.session.scalar(query)
        return cart

    async def add(self, cart: Cart) -> None:
        self.session.add(cart)
        await self.session.flush()

    async def touch(self, cart: Cart, ttl: timedelta) -> None:
        """The cart changed now: it expires ``ttl`` from now."""
        now = await self.session.scalar(select(func.now()))
        assert now is not None
        cart.updated_at = now
        cart.expires_at = now + ttl

    async def delete(self, cart: Cart) -> None:
        await self.session.delete(cart)
        await self.session.flush()

    async def delete_line(self, line: CartLine) -> None:
        await self.session.delete(line)

    async def set_order(self, cart_id: uuid.UUID, order_id: uuid.UUID | None) -> None:
        await self.session.execute(update(Cart).where(Cart.id == cart_id).values(order_id=order_id))

    async def sweep_expired(self, limit: int) -> int:
        """Deletes up to ``limit`` carts past their expiry (others' locks skipped)."""
        expired = (
            select(Cart.id)
            .where(Cart.expires_at <= func.now())
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self.session.execute(
            delete(Cart).where(Cart.id.in_(expired)).returning(Cart.id)
        )
        return len(result.all())
