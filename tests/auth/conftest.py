"""The auth service on the worker's own database and Redis, emails written to files."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
import redis.asyncio
from fastapi import FastAPI

from shop.auth import service
from shop.auth.app import create_app
from shop.auth.config import AuthSettings
from shop.kit.config import to_async_database_url
from tests.support import Databases, app_client

PASSWORD = "correct horse battery staple"
API = "/api/v1/auth"


def plain_url(url: str) -> str:
    return to_async_database_url(url).replace("postgresql+asyncpg://", "postgresql://")


def sha256_hex(token: str) -> str:
    """How the service stores an opaque token, computed independently of it."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(access_token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {access_token}"}


def forwarded_for(ip: str) -> dict[str, str]:
    """The in-process client is 127.0.0.1, a trusted proxy: this chooses the client IP."""
    return {"x-forwarded-for": ip}


def auth_settings(
    databases: Databases, redis_url: str, data_dir: Path, **overrides: Any
) -> AuthSettings:
    values: dict[str, Any] = {
        # Aliased fields only take their documented (environment) names.
        "AUTH_DATABASE_URL": databases.urls["auth"],
        "SHOP_DATA_DIR": data_dir,
        "redis_url": redis_url,
        "email_backend": "file",
        "email_file_dir": data_dir / "mail",
        "email_from": "Shop <no-reply@shop.example>",
        "bcrypt_rounds": 4,  # the policy is tested; the cost only slows the suite
        "outbox_poll_seconds": 0.05,
        "log_format": "json",
        "public_base_url": "https://shop.example",
        # What the tests assert on, whatever the environment says.
        "jwt_private_key": None,
        "bootstrap_admin_email": None,
        "bootstrap_admin_password": None,
        "access_token_ttl_seconds": 900,
        "login_failure_limit": "5/15minutes",
        "login_failure_limit_account": "20/15minutes",
        "login_failure_limit_ip": "50/15minutes",
        # Tests of other things mail one address several times in a row; the
        # allowance itself is tested with its default (test_abuse_limits.py).
        "email_recipient_limit": "1000/minute",
        "trusted_proxies": "127.0.0.0/8,::1/128",
    }
    values.update(overrides)
    return AuthSettings(_env_file=None, **values)  # never a developer's .env


@dataclass
class Mailbox:
    directory: Path

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        found = []
        for path in sorted(self.directory.glob("*.eml"), key=lambda p: p.stat().st_mtime):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if to is None or message["To"] == to:
                found.append(message)
        return found

    async def wait_for(self, to: str, count: int = 1, within: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(found := self.messages(to)) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no email #{count} to {to} within {within} s")

    async def link_token(self, to: str, count: int = 1) -> str:
        """The token= of the link in the count-th message to ``to``."""
        message = (await self.wait_for(to, count))[count - 1]
        body = message.get_body(("plain",))
        assert body is not None
        match = re.search(r"token=([A-Za-z0-9_\-]+)", body.get_content())
        assert match, body.get_content()
        return match.group(1)


@dataclass
class AuthFixture:
    client: httpx.AsyncClient
    mailbox: Mailbox
    settings: AuthSettings
    app: FastAPI

    async def register(self, email_address: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/register",
            json={"email": email_address, "password": password, "full_name": "Ada Lovelace"},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def login(self, email_address: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/login", json={"email": email_address, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def try_login(
        self, email_address: str, password: str = PASSWORD, ip: str | None = None
    ) -> httpx.Response:
        """A login attempt whose answer is for the test to judge, from ``ip`` if given."""
        return await self.client.post(
            f"{API}/login",
            json={"email": email_address, "password": password},
            headers=forwarded_for(ip) if ip else None,
        )

    async def verified_user(self, email_address: str) -> dict[str, Any]:
        await self.register(email_address)
        token = await self.mailbox.link_token(email_address)
        response = await self.client.post(f"{API}/verify-email", json={"token": token})
        assert response.status_code == 200, response.text
        return await self.login(email_address)

    async def admin(self, email_address: str = "admin@example.com") -> dict[str, Any]:
        """A verified admin made the way ``shop create-admin`` does, logged in."""
        async with self.app.state.sessionmaker() as session, session.begin():
            await service.ensure_admin(
                session, email_address, PASSWORD, self.settings.bcrypt_rounds, promote_existing=True
            )
        return await self.login(email_address)

    async def me(self, access_token: str) -> httpx.Response:
        return await self.client.get(f"{API}/me", headers=bearer(access_token))

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.client.post(f"{API}/refresh", json={"refresh_token": refresh_token})

    async def jwks(self) -> dict[str, Any]:
        response = await self.client.get(f"{API}/.well-known/jwks.json")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@asynccontextmanager
async def running(settings: AuthSettings) -> AsyncIterator[AuthFixture]:
    """An auth app started with ``settings``, its lifespan run, called in-process."""
    app = create_app(settings)
    async with app_client(app) as client:
        yield AuthFixture(client, Mailbox(settings.email_directory), settings, app)


async def _truncate(databases: Databases) -> None:
    connection = await asyncpg.connect(plain_url(databases.urls["auth"]))
    try:
        await connection.execute(
            "TRUNCATE users, refresh_tokens, one_time_tokens, outbox RESTART IDENTITY CASCADE"
        )
    finally:
        await connection.close()


SettingsFactory = Callable[..., AuthSettings]


@pytest.fixture
def settings_for(databases: Databases, redis_url: str, tmp_path: Path) -> SettingsFactory:
    """Settings of this worker's database and Redis: ``settings_for(data_dir, **overrides)``.

    Every app of a test shares one outbox, so any of them may deliver a message: they
    all write to the one mailbox, the ``auth`` fixture's."""

    def make(data_dir: Path = tmp_path, **overrides: Any) -> AuthSettings:
        overrides.setdefault("email_file_dir", tmp_path / "mail")
        return auth_settings(databases, redis_url, data_dir, **overrides)

    return make


@pytest.fixture
async def auth(databases: Databases, redis_url: str, tmp_path: Path) -> AsyncIterator[AuthFixture]:
    """A running auth app. The tables and Redis are emptied afterwards, also for any other
    app a test starts with :func:`running` on the same database."""
    settings = auth_settings(databases, redis_url, tmp_path)
    try:
        async with running(settings) as fixture:
            yield fixture
    finally:
        await _truncate(databases)
        client_redis = redis.asyncio.Redis.from_url(redis_url)
        await client_redis.flushdb()
        await client_redis.aclose()


@pytest.fixture
def sql(databases: Databases) -> str:
    """A plain PostgreSQL URL of this worker's auth database, for asserting on rows."""
    return plain_url(databases.urls["auth"])


@pytest.fixture
async def db(sql: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this worker's auth database, to inspect and age rows."""
    connection = await asyncpg.connect(sql)
    try:
        yield connection
    finally:
        await connection.close()


async def outbox_count(db: asyncpg.Connection, to: str) -> int:
    """Emails queued to ``to``: the outbox row is written in the request's transaction."""
    count: int = await db.fetchval("SELECT count(*) FROM outbox WHERE payload->>'to' = $1", to)
    return count


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 body of a problem answer with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


def verify_with_jwks(token: str, jwks: dict[str, Any], auth: AuthFixture) -> dict[str, Any]:
    """The claims of ``token`` checked the way another service would, with the JWKS only."""
    header = jwt.get_unverified_header(token)
    [jwk] = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk),
        algorithms=["EdDSA"],
        issuer=auth.settings.jwt_issuer,
        audience=auth.settings.jwt_audience,
    )
    return claims


@pytest.fixture
async def sessions_redis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of the Redis that holds the sessions, to look at them directly."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
