"""Who is calling: access token verification every service shares.

The auth service issues access tokens: JWTs signed with Ed25519 (``EdDSA``;
``ES256`` is accepted too) naming their key in the ``kid`` header, with the
claims ``sub`` (user UUID), ``sid`` (session UUID), ``jti``, ``roles``,
``email``, ``email_verified``, ``iss``, ``aud``, ``iat`` and ``exp``. A token
is good while its signature, claims and lifetime check out *and* its session
is alive, that is while the Redis key :func:`session_key` exists, so logging
out or revoking a session stops its tokens at once.

A service lists :func:`identity_resource` after the Redis resource and takes
the caller from the dependencies::

    @router.get("/orders")
    async def my_orders(user: CurrentUser) -> ...

    @router.delete("/products/{id}")
    async def delete_product(admin: AdminUser) -> ...

Missing token: 401 with ``WWW-Authenticate: Bearer``. Invalid token: 401 with
``WWW-Authenticate: Bearer error="invalid_token"``. Wrong role or unverified
email: 403. Session store down: 503, never a guess.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request

from shop.kit._identity_keys import (
    ALLOWED_ALGORITHMS,
    JwksKeySource,
    KeySource,
    StaticKeySource,
    as_jwk,
)
from shop.kit._identity_tokens import (
    REQUIRED_CLAIMS,
    ROLE_ADMIN,
    ROLE_CUSTOMER,
    AuthenticationRequiredError,
    ForbiddenError,
    Identity,
    InvalidTokenError,
    TokenVerifier,
    session_key,
    user_sessions_key,
)
from shop.kit.config import ServiceSettings
from shop.kit.health import ReadinessCheck
from shop.kit.http import create_http_client
from shop.kit.resource import Resource

__all__ = [
    "ALLOWED_ALGORITHMS",
    "REQUIRED_CLAIMS",
    "ROLE_ADMIN",
    "ROLE_CUSTOMER",
    "AdminUser",
    "AuthenticationRequiredError",
    "CurrentUser",
    "ForbiddenError",
    "Identity",
    "IdentitySettings",
    "InvalidTokenError",
    "JwksKeySource",
    "KeySource",
    "OptionalUser",
    "StaticKeySource",
    "TokenVerifier",
    "VerifiedUser",
    "admin_identity",
    "as_jwk",
    "current_identity",
    "identity_resource",
    "optional_identity",
    "session_key",
    "user_sessions_key",
    "verified_identity",
]

# Fetching the JWKS is quick or not worth waiting for: requests wait on it.
JWKS_TIMEOUT = httpx.Timeout(connect=2.0, read=3.0, write=3.0, pool=2.0)


class IdentitySettings(ServiceSettings):
    """Settings of a service that verifies access tokens (env ``JWT_ISSUER``,
    ``JWT_AUDIENCE``, ``JWKS_URL``)."""

    jwt_issuer: str = "shop-auth"
    jwt_audience: str = "shop"
    jwks_url: str = "http://127.0.0.1:3001/api/v1/auth/.well-known/jwks.json"


def identity_resource(settings: IdentitySettings, key_source: KeySource | None = None) -> Resource:
    """Puts a :class:`TokenVerifier` at ``app.state.token_verifier``.

    Keys come from ``key_source`` when given (the auth service passes its
    own), else from ``settings.jwks_url``. Sessions are checked on
    ``app.state.redis``: list the Redis resource before this one.
    """

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        redis = getattr(app.state, "redis", None)
        if redis is None:
            raise RuntimeError("identity_resource needs app.state.redis: list redis_resource first")
        client: httpx.AsyncClient | None = None
        keys = key_source
        if keys is None:
            client = create_http_client(timeout=JWKS_TIMEOUT)
            keys = JwksKeySource(settings.jwks_url, client)
        app.state.token_verifier = TokenVerifier(
            keys, redis, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
        try:
            yield {}
        finally:
            if client is not None:
                await client.aclose()

    return resource


def _bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationRequiredError()
    return token


async def current_identity(request: Request) -> Identity:
    """The caller, from ``Authorization: Bearer <token>``; verified once per request."""
    cached = getattr(request.state, "identity", None)
    if isinstance(cached, Identity):
        return cached
    token = _bearer_token(request)
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("no token verifier: add identity_resource to the app's resources")
    identity = await verifier.verify(token)
    request.state.identity = identity
    return identity


async def optional_identity(request: Request) -> Identity | None:
    """The caller, or ``None`` without an ``Authorization`` header. A header that is
    there but not a good bearer token is still a 401: a client never silently
    loses its identity."""
    if "authorization" not in request.headers:
        return None
    return await current_identity(request)


CurrentUser = Annotated[Identity, Depends(current_identity)]
OptionalUser = Annotated[Identity | None, Depends(optional_identity)]


async def verified_identity(identity: CurrentUser) -> Identity:
    """The caller, whose email address is verified."""
    if not identity.email_verified:
        raise ForbiddenError("The email address is not verified.")
    return identity


async def admin_identity(identity: CurrentUser) -> Identity:
    """The caller, who is an admin."""
    if not identity.is_admin:
        raise ForbiddenError("This needs the admin role.")
    return identity


VerifiedUser = Annotated[Identity, Depends(verified_identity)]
AdminUser = Annotated[Identity, Depends(admin_identity)]
