"""The auth use cases, as plain functions over an :class:`Auth` context.

They flush but never commit: the request's session dependency commits once,
after the handler returns. Redis session changes take effect at once; they
only ever revoke before a commit, so a failed commit never leaves a session
alive that should be dead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.config import AuthSettings
from shop.auth.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    InvalidOneTimeTokenError,
    InvalidRefreshTokenError,
    SelfLockoutError,
    UserNotFoundError,
    WeakPasswordError,
    WrongCurrentPasswordError,
)
from shop.auth.keys import KeyRing
from shop.auth.models import OneTimeToken, RefreshToken, Role, TokenPurpose, User, outbox
from shop.auth.passwords import hash_password, password_problems, verify_password
from shop.auth.repository import TokenRepository, UserRepository
from shop.auth.schemas import TokenPair
from shop.auth.sessions import SessionStore
from shop.auth.throttle import LoginThrottle, RecipientLimit
from shop.auth.tokens import digest, issue_access_token, new_opaque_token
from shop.kit.email import EmailRenderer
from shop.kit.identity import Identity
from shop.kit.outbox_email import enqueue_email
from shop.kit.pagination import decode_cursor, encode_cursor


@dataclass
class Auth:
    """What the use cases work with during one request."""

    session: AsyncSession
    settings: AuthSettings
    keys: KeyRing
    sessions: SessionStore
    throttle: LoginThrottle
    recipient_limit: RecipientLimit
    emails: EmailRenderer
    # Checked when the email is unknown, so both answers cost one bcrypt check.
    dummy_password_hash: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def users(self) -> UserRepository:
        return UserRepository(self.session)

    @property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self.session)


def _check_policy(password: str, email: str, field_name: str) -> None:
    if problems := password_problems(password, email):
        raise WeakPasswordError(field_name, problems)


async def _send_link(auth: Auth, user: User, purpose: TokenPurpose) -> None:
    """Mails a fresh link, unless the address had its share of mail (every caller is
    an anonymous request, whose answer is the same either way)."""
    if not await auth.recipient_limit.allow(user.email):
        return
    ttl, path, template = {
        TokenPurpose.VERIFY_EMAIL: (
            auth.settings.verification_token_ttl_seconds,
            "verify-email",
            "verify_email",
        ),
        TokenPurpose.RESET_PASSWORD: (
            auth.settings.reset_token_ttl_seconds,
            "reset-password",
            "reset_password",
        ),
    }[purpose]
    await auth.tokens.retire_one_time_tokens(user.id, purpose, auth.now)
    token = new_opaque_token()
    auth.tokens.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_digest=digest(token),
            expires_at=auth.now + timedelta(seconds=ttl),
        )
    )
    link = f"{auth.settings.public_base_url.rstrip('/')}/{path}?token={token}"
    message = auth.emails.render(
        template, to=user.email, full_name=user.full_name, link=link, hours=max(1, ttl // 3600)
    )
    await enqueue_email(auth.session, outbox, message)


async def _use_one_time_token(auth: Auth, token: str, purpose: TokenPurpose) -> User:
    row = await auth.tokens.one_time_token(digest(token), purpose)
    if row is None or row.used_at is not None or row.expires_at <= auth.now:
        raise InvalidOneTimeTokenError
    row.used_at = auth.now
    user = await auth.users.by_id(row.user_id, for_update=True)
    if user is None or not user.is_active:
        raise InvalidOneTimeTokenError
    return user


def _session_ttl(auth: Auth, started_at: datetime) -> int:
    """Seconds the session may live from now: a refresh token's lifetime, cut at the
    session's absolute end (SESSION_MAX_AGE after its login); 0 once that has passed."""
    left = started_at + timedelta(seconds=auth.settings.session_max_age) - auth.now
    return max(0, min(auth.settings.refresh_token_ttl_seconds, int(left.total_seconds())))


async def _issue_pair(
    auth: Auth, user: User, session_id: uuid.UUID, started_at: datetime, ttl: int
) -> TokenPair:
    refresh_token = new_opaque_token()
    auth.tokens.add(
        RefreshToken(
            user_id=user.id,
            session_id=session_id,
            session_started_at=started_at,
            token_digest=digest(refresh_token),
            expires_at=auth.now + timedelta(seconds=ttl),
        )
    )
    access_token = issue_access_token(
        auth.keys,
        user,
        session_id,
        issuer=auth.settings.jwt_issuer,
        audience=auth.settings.jwt_audience,
        ttl_seconds=auth.settings.access_token_ttl_seconds,
        now=auth.now,
    )
    await auth.session.flush()
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=auth.settings.access_token_ttl_seconds,
    )


async def _end_all_sessions(auth: Auth, user: User) -> None:
    await auth.sessions.revoke_all(user.id)
    await auth.tokens.revoke_refresh_tokens(auth.now, user_id=user.id)


async def register(auth: Auth, email: str, password: str, full_name: str) -> User:
    _check_policy(password, email, "password")
    if await auth.users.by_email(email) is not None:
        raise EmailTakenError("An account with this email already exists.")
    user = User(
        email=email,
        full_name=full_name,
        password_hash=await hash_password(password, auth.settings.bcrypt_rounds),
        roles=[Role.CUSTOMER],
    )
    try:
        await auth.users.add(user)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailTakenError("An account with this email already exists.") from exc
    await _send_link(auth, user, TokenPurpose.VERIFY_EMAIL)
    return user


async def verify_email(auth: Auth, token: str) -> User:
    user = await _use_one_time_token(auth, token, TokenPurpose.VERIFY_EMAIL)
    user.email_verified = True
    await auth.session.flush()
    return user


async def resend_verification(auth: Auth, email: str) -> None:
    user = await auth.users.by_email(email)
    if user is not None and user.is_active and not user.email_verified:
        await _send_link(auth, user, TokenPurpose.VERIFY_EMAIL)


async def login(auth: Auth, email: str, password: str, client_ip: str) -> TokenPair:
    async with auth.throttle.attempt(email, client_ip):
        # Share-locked until the commit: a reset, deactivation or role change under way
        # is waited for (and its result checked), and one begun later ends this session.
        user = await auth.users.by_email(email, for_share=True)
        matches = await verify_password(
            password, user.password_hash if user else auth.dummy_password_hash
        )
        if user is None or not matches or not user.is_active:
            await auth.throttle.failed(email, client_ip)
            raise InvalidCredentialsError
        await auth.throttle.succeeded(email, client_ip)
    ttl = _session_ttl(auth, auth.now)
    session_id = await auth.sessions.create(user.id, ttl)
    return await _issue_pair(auth, user, session_id, auth.now, ttl)


async def refresh(auth: Auth, refresh_token: str) -> TokenPair:
    found = await auth.tokens.refresh_token(digest(refresh_token), for_update=False)
    if found is None:
        raise InvalidRefreshTokenError
    # The user first, then the token: the order resets and admin changes lock in.
    user = await auth.users.by_id(found.user_id, for_share=True)
    row = await auth.tokens.refresh_token(digest(refresh_token))
    if row is None:
        raise InvalidRefreshTokenError
    if row.used_at is not None or row.revoked_at is not None:
        # A used token presented again: it was stolen or replayed. End the whole family.
        await auth.sessions.revoke(row.session_id, row.user_id)
        raise InvalidRefreshTokenError
    ttl = _session_ttl(auth, row.session_started_at)
    if user is None or not user.is_active or ttl <= 0:
        await auth.sessions.revoke(row.session_id, row.user_id)
        raise InvalidRefreshTokenError
    if row.expires_at <= auth.now:
        raise InvalidRefreshTokenError
    row.used_at = auth.now
    if not await auth.sessions.extend(row.session_id, user.id, ttl):
        raise InvalidRefreshTokenError  # ended (logout, reset, reuse): never revived
    return await _issue_pair(auth, user, row.session_id, row.session_started_at, ttl)


async def logout(auth: Auth, identity: Identity, refresh_token: str | None) -> None:
    sessions = {identity.session_id}
    if refresh_token:
        row = await auth.tokens.refresh_token(digest(refresh_token))
        if row is not None and row.user_id == identity.user_id:
            sessions.add(row.session_id)
    for session_id in sessions:
        await auth.sessions.revoke(session_id, identity.user_id)
        await auth.tokens.revoke_refresh_tokens(
            auth.now, user_id=identity.user_id, session_id=session_id
        )


async def forgot_password(auth: Auth, email: str) -> None:
    user = await auth.users.by_email(email)
    if user is not None and user.is_active:
        await _send_link(auth, user, TokenPurpose.RESET_PASSWORD)


async def reset_password(auth: Auth, token: str, new_password: str) -> None:
    user = await _use_one_time_token(auth, token, TokenPurpose.RESET_PASSWORD)
    _check_policy(new_password, user.email, "new_password")
    user.password_hash = await hash_password(new_password, auth.settings.bcrypt_rounds)
    # Whoever held the old password may hold a session: every one of them ends.
    await _end_all_sessions(auth, user)


async def change_password(auth: Auth, identity: Identity, current: str, new: str) -> None:
    user = await auth.users.by_id(identity.user_id, for_update=True)
    if user is None:
        raise UserNotFoundError
    if not await verify_password(current, user.password_hash):
        raise WrongCurrentPasswordError("The current password is incorrect.")
    _check_policy(new, user.email, "new_password")
    user.password_hash = await hash_password(new, auth.settings.bcrypt_rounds)
    # Every other device is signed out; this one stays signed in.
    await auth.sessions.revoke_all(user.id, keep=identity.session_id)
    await auth.tokens.revoke_refresh_tokens(
        auth.now, user_id=user.id, except_session=identity.session_id
    )


async def get_user(auth: Auth, user_id: uuid.UUID) -> User:
    user = await auth.users.by_id(user_id)
    if user is None:
        raise UserNotFoundError
    return user


async def list_users(
    auth: Auth, limit: int, cursor: str | None, email_contains: str | None = None
) -> tuple[list[User], str | None]:
    """A page of users, newest first, and the cursor of the next page."""
    after = decode_cursor(cursor, datetime, uuid.UUID) if cursor else None
    users = await auth.users.page(
        limit + 1, (after[0], after[1]) if after else None, email_contains
    )
    page = users[:limit]
    more = len(users) > limit
    return page, encode_cursor([page[-1].created_at, page[-1].id]) if more else None


async def update_profile(auth: Auth, identity: Identity, full_name: str) -> User:
    user = await get_user(auth, identity.user_id)
    user.full_name = full_name
    await auth.session.flush()
    await auth.session.refresh(user)
    return user


async def update_user(
    auth: Auth,
    admin: Identity,
    user_id: uuid.UUID,
    roles: list[Role] | None,
    is_active: bool | None,
) -> User:
    user = await auth.users.by_id(user_id, for_update=True)
    if user is None:
        raise UserNotFoundError
    if user.id == admin.user_id and (
        is_active is False or (roles is not None and Role.ADMIN not in roles)
    ):
        raise SelfLockoutError("An admin cannot deactivate or demote themselves.")
    changed = False
    if roles is not None and sorted(set(roles)) != sorted(user.roles):
        user.roles = sorted({Role(r) for r in roles})
        changed = True
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        changed = True
    if changed:
        # Tokens carry roles and are only good while their session lives: end them all,
        # so a demotion or deactivation takes effect at once.
        await _end_all_sessions(auth, user)
    await auth.session.flush()
    await auth.session.refresh(user)
    return user


async def ensure_admin(
    session: AsyncSession,
    email: str,
    password: str,
    rounds: int,
    *,
    promote_existing: bool,
    full_name: str = "Administrator",
) -> User:
    """Create a verified admin, or (``promote_existing``) make an existing user one."""
    users = UserRepository(session)
    user = await users.by_email(email)
    if user is None:
        _check_policy(password, email, "password")
        user = User(
            email=email,
            full_name=full_name,
            password_hash=await hash_password(password, rounds),
            roles=[Role.ADMIN, Role.CUSTOMER],
            email_verified=True,
        )
        return await users.add(user)
    if promote_existing:
        user.roles = sorted({*user.roles, Role.ADMIN})
        user.email_verified = True
        user.is_active = True
        await session.flush()
    return user
