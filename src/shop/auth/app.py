import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.auth import service
from shop.auth.api import router
from shop.auth.config import AuthSettings
from shop.auth.keys import RETIRE_MARGIN_SECONDS, Keys, RingKeySource, load_keys
from shop.auth.models import outbox
from shop.auth.passwords import hash_password
from shop.auth.throttle import LoginThrottle, RecipientLimit
from shop.kit.app import create_service_app
from shop.kit.db import database_resource, unit_of_work
from shop.kit.email import EmailRenderer, create_email_sender
from shop.kit.health import ReadinessCheck
from shop.kit.identity import identity_resource
from shop.kit.outbox_email import email_handler
from shop.kit.outbox_worker import OutboxWorker, outbox_worker_resource
from shop.kit.redis import redis_resource
from shop.kit.resource import Resource

log = structlog.get_logger("shop.auth")


def auth_resource(settings: AuthSettings, keys: Keys) -> Resource:
    """What the use cases need besides the database and Redis (see shop.auth.api.get_auth)."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        app.state.keys = keys
        app.state.email_renderer = EmailRenderer("shop.auth")
        app.state.dummy_password_hash = await hash_password(
            secrets.token_urlsafe(16), settings.bcrypt_rounds
        )
        app.state.login_throttle = LoginThrottle(
            settings.redis_url,
            app.state.redis,
            per_account_and_ip=settings.login_failure_limit,
            per_account=settings.login_failure_limit_account,
            per_ip=settings.login_failure_limit_ip,
        )
        app.state.recipient_limit = RecipientLimit(
            settings.redis_url, app.state.redis, settings.email_recipient_limit
        )
        await bootstrap_admin(app.state.sessionmaker, settings)
        yield {}

    return resource


async def bootstrap_admin(
    sessionmaker: async_sessionmaker[AsyncSession], settings: AuthSettings
) -> None:
    """Creates BOOTSTRAP_ADMIN_EMAIL as a verified admin unless that account exists."""
    if not (settings.bootstrap_admin_email and settings.bootstrap_admin_password):
        return
    password = settings.bootstrap_admin_password.get_secret_value()
    # Instances started together all find the admin absent and race to insert it; the
    # losers hit the unique email index and would fail to start. A second look finds
    # the winner's admin (``ensure_admin`` then leaves it alone).
    for attempt in (1, 2):
        try:
            async with unit_of_work(sessionmaker) as session:
                await service.ensure_admin(
                    session,
                    settings.bootstrap_admin_email,
                    password,
                    settings.bcrypt_rounds,
                    promote_existing=False,
                )
        except IntegrityError:
            if attempt == 2:
                raise
        else:
            break
    log.info("bootstrap admin present")


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()  # from the environment
    private_key = settings.jwt_private_key
    keys = load_keys(
        settings.keys_dir,
        private_key.get_secret_value() if private_key else None,
        settings.jwt_previous_public_keys,
        activation_seconds=settings.jwt_key_activation_seconds,
        retire_after=settings.access_token_ttl_seconds + RETIRE_MARGIN_SECONDS,
    )
    sender = create_email_sender(settings)
    return create_service_app(
        settings,
        title="Auth service",
        description="Registration, email verification, login, tokens, sessions and roles.",
        routers=[router],
        resources=[
            database_resource(settings),
            redis_resource(settings.redis_url),
            # The auth service verifies tokens with its own keys (as they are now: shared
            # key files change under it), no HTTP needed.
            identity_resource(settings, RingKeySource(keys)),
            auth_resource(settings, keys),
            outbox_worker_resource(
                lambda app: OutboxWorker(
                    app.state.sessionmaker,
                    outbox,
                    {"email": email_handler(sender)},
                    poll_interval=settings.outbox_poll_seconds,
                    retention=timedelta(seconds=settings.outbox_retention_seconds),
                )
            ),
        ],
    )
