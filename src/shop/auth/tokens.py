"""Access tokens (signed JWTs) and opaque tokens (refresh, verification, reset)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import jwt

from shop.auth.keys import ALGORITHM, KeyRing
from shop.auth.models import User


def new_opaque_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored instead of an opaque token: a leaked table grants nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access_token(
    keys: KeyRing,
    user: User,
    session_id: uuid.UUID,
    *,
    issuer: str,
    audience: str,
    ttl_seconds: int,
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user.id),
        "sid": str(session_id),
        "jti": uuid.uuid4().hex,
        "roles": list(user.roles),
        "email": user.email,
        "email_verified": user.email_verified,
        "iss": issuer,
        "aud": audience,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
    }
    return jwt.encode(
        claims,
        keys.current.private_key,
        algorithm=ALGORITHM,
        # RFC 9068's type: this JWT is an access token and can pass for nothing else.
        headers={"kid": keys.current.kid, "typ": "at+jwt"},
    )
