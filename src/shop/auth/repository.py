"""Queries of the auth service. Repositories only flush; the request commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import OneTimeToken, RefreshToken, TokenPurpose, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str, *, for_share: bool = False) -> User | None:
        """``for_share``: the row is read-locked until the commit, and read as committed
        after any change under way (see :meth:`by_id`)."""
        query = select(User).where(func.lower(User.email) == email.strip().lower())
        if for_share:
            query = query.with_for_update(read=True).execution_options(populate_existing=True)
        user: User | None = await self.session.scalar(query)
        return user

    async def by_id(
        self, user_id: uuid.UUID, *, for_update: bool = False, for_share: bool = False
    ) -> User | None:
        """``for_share`` (``FOR SHARE``) waits for a password reset, deactivation or role
        change under way and blocks new ones until the commit: a session begun under it
        is seen (and ended) by the next such change, never missed by one in progress."""
        query = select(User).where(User.id == user_id)
        if for_update or for_share:
            query = query.with_for_update(read=not for_update).execution_options(
                populate_existing=True
            )
        user: User | None = await self.session.scalar(query)
        return user

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def page(
        self,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None = None,
        email_contains: str | None = None,
    ) -> list[User]:
        """Newest first, by (created_at, id); optionally those whose email contains a text."""
        query = select(User).order_by(User.created_at.desc(), User.id.desc()).limit(limit)
        if after is not None:
            query = query.where(tuple_(User.created_at, User.id) < tuple_(*after))
        if email_contains:
            # The text is matched literally: % and _ in it are not wildcards.
            escaped = email_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(User.email.ilike(f"%{escaped}%", escape="\\"))
        return list(await self.session.scalars(query))


class TokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def refresh_token(self, digest: str, *, for_update: bool = True) -> RefreshToken | None:
        query = select(RefreshToken).where(RefreshToken.token_digest == digest)
        if for_update:
            # Re-read after the wait: a concurrent refresh may have used it meanwhile.
            query = query.with_for_update().execution_options(populate_existing=True)
        token: RefreshToken | None = await self.session.scalar(query)
        return token

    async def revoke_refresh_tokens(
        self,
        now: datetime,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID | None = None,
        except_session: uuid.UUID | None = None,
    ) -> None:
        query = update(RefreshToken).where(
            RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
        )
        if session_id is not None:
            query = query.where(RefreshToken.session_id == session_id)
        if except_session is not None:
            query = query.where(RefreshToken.session_id != except_session)
        await self.session.execute(query.values(revoked_at=now))

    async def one_time_token(self, digest: str, purpose: TokenPurpose) -> OneTimeToken | None:
        query = (
            select(OneTimeToken)
            .where(OneTimeToken.token_digest == digest, OneTimeToken.purpose == purpose)
            .with_for_update()
        )
        token: OneTimeToken | None = await self.session.scalar(query)
        return token

    async def retire_one_time_tokens(
        self, user_id: uuid.UUID, purpose: TokenPurpose, now: datetime
    ) -> None:
        """A new link makes the older ones of the same kind useless."""
        await self.session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.user_id == user_id,
                OneTimeToken.purpose == purpose,
                OneTimeToken.used_at.is_(None),
            )
            .values(used_at=now)
        )

    def add(self, token: RefreshToken | OneTimeToken) -> None:
        self.session.add(token)
