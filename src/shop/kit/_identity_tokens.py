"""Access token verification (see :mod:`shop.kit.identity`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shop.kit._identity_keys import ALLOWED_ALGORITHMS, KeySource, as_jwk
from shop.kit.errors import ShopError, UpstreamUnavailableError

ROLE_CUSTOMER = "customer"
ROLE_ADMIN = "admin"

# Every claim an access token must carry.
REQUIRED_CLAIMS: tuple[str, ...] = (
    "sub",
    "sid",
    "jti",
    "roles",
    "email",
    "email_verified",
    "iss",
    "aud",
    "iat",
    "exp",
)

# The ``typ`` header every access token carries (RFC 9068).
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a password

# Larger Authorization values are refused before any parsing.
MAX_TOKEN_LENGTH = 8192

# A token whose signature and claims checked out is remembered (by its exact text)
# until it expires, but at most VERIFIED_TOKEN_SECONDS, with the key that verified
# it: it is taken from memory only while the key source still gives that same key
# for its kid, so a key the JWKS no longer publishes stops its tokens as before.
# Its session is still looked up on every request: logging out or revoking a session
# stops its tokens at once, remembered or not.
VERIFIED_TOKEN_SECONDS = 60.0
VERIFIED_TOKEN_CACHE_SIZE = 10_000

log = structlog.get_logger("shop.identity")


def session_key(session_id: UUID | str) -> str:
    """The Redis key that exists while a session is alive (written by the auth service)."""
    return f"auth:session:{session_id}"


def user_sessions_key(user_id: UUID | str) -> str:
    """The Redis set of a user's session IDs (written by the auth service)."""
    return f"auth:user-sessions:{user_id}"


class AuthenticationRequiredError(ShopError):
    """No access token came with a request that needs one."""

    status = 401
    title = "Authentication required"
    type_slug = "authentication-required"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or "This request needs a bearer access token.", **extra)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class InvalidTokenError(ShopError):
    """The access token is malformed, forged, expired, or its session has ended."""

    status = 401
    title = "Invalid token"
    type_slug = "invalid-token"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or "The access token is invalid or has expired.", **extra)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class ForbiddenError(ShopError):
    """The caller is known but may not do this (role, unverified email)."""

    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


@dataclass(frozen=True)
class Identity:
    """Who a verified access token speaks for."""

    user_id: UUID
    session_id: UUID
    token_id: str
    email: str
    email_verified: bool
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ROLE_ADMIN in self.roles


class TokenVerifier:
    """Verifies access tokens: signature, claims, and that the session is still alive."""

    def __init__(
        self,
        keys: KeySource,
        redis: Redis,
        *,
        issuer: str,
        audience: str,
        leeway: float = 5,
    ) -> None:
        self._keys = keys
        self._redis = redis
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        # token -> (remembered until in epoch seconds, kid, the key's object, identity)
        self._verified: dict[str, tuple[float, str, object, Identity]] = {}

    async def verify(self, token: str) -> Identity:
        """The token's identity; :class:`InvalidTokenError` for any token not to be trusted,
        :class:`~shop.kit.errors.UpstreamUnavailableError` when sessions cannot be checked."""
        identity = await self._verified_identity(token)
        try:
            alive = await self._redis.exists(session_key(identity.session_id))
        except (RedisError, OSError) as exc:
            log.warning("cannot check the session store", error=type(exc).__name__)
            raise UpstreamUnavailableError("Sessions cannot be checked right now.") from exc
        if not alive:
            raise _invalid("session ended")
        return identity

    async def _verified_identity(self, token: str) -> Identity:
        """Signature and claims, checked once per token (see VERIFIED_TOKEN_SECONDS)."""
        now = time.time()
        remembered = self._verified.pop(token, None)
        if remembered is not None:
            until, kid, raw_key, identity = remembered
            if until > now:
                try:
                    same_key = await self._keys.key(kid) is raw_key
                except LookupError:
                    raise _invalid("unknown kid") from None
                if same_key:
                    self._verified[token] = remembered
                    return identity
        claims, kid, raw_key = await self._decode(token)
        identity = _identity_from(claims)
        if len(self._verified) >= VERIFIED_TOKEN_CACHE_SIZE:
            self._verified.clear()  # bounded memory; the next requests verify again
        until = min(float(claims["exp"]), now + VERIFIED_TOKEN_SECONDS)
        self._verified[token] = (until, kid, raw_key, identity)
        return identity

    async def _decode(self, token: str) -> tuple[dict[str, Any], str, object]:
        """The verified claims, the token's kid and the key (as the key source gave it)."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise _invalid("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("malformed") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if not _is_access_token_type(header.get("typ")):
            # RFC 9068: only a JWT typed as an access token is one, so no other JWT
            # the keys might ever sign (an ID token, a link) can pass for it.
            raise _invalid("typ is not at+jwt")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise _invalid("algorithm not allowed")
        if not isinstance(kid, str) or not kid:
            raise _invalid("no kid")
        try:
            raw_key = await self._keys.key(kid)
            key = as_jwk(raw_key)
        except LookupError:
            raise _invalid("unknown kid") from None
        # The key decides its one algorithm; the token must name exactly that one.
        if key.algorithm_name not in ALLOWED_ALGORITHMS or key.algorithm_name != algorithm:
            raise _invalid("algorithm does not match the key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_iat": True,
                    "verify_iss": True,
                    "verify_aud": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise _invalid(type(exc).__name__) from None
        return claims, kid, raw_key


def _is_access_token_type(typ: Any) -> bool:
    # Media types are case-insensitive and the "application/" prefix may be left out.
    return isinstance(typ, str) and typ.lower().removeprefix("application/") == ACCESS_TOKEN_TYPE


def _invalid(reason: str) -> InvalidTokenError:
    log.debug("access token rejected", reason=reason)
    return InvalidTokenError()


def _identity_from(claims: dict[str, Any]) -> Identity:
    roles, email, verified = claims["roles"], claims["email"], claims["email_verified"]
    token_id = claims["jti"]
    if not (isinstance(roles, list) and all(isinstance(role, str) for role in roles)):
        raise _invalid("roles is not a list of strings")
    if not isinstance(email, str) or not isinstance(token_id, str) or not token_id:
        raise _invalid("email or jti is not a string")
    if not isinstance(verified, bool):
        raise _invalid("email_verified is not a boolean")
    return Identity(
        user_id=_uuid(claims["sub"]),
        session_id=_uuid(claims["sid"]),
        token_id=token_id,
        email=email,
        email_verified=verified,
        roles=frozenset(roles),
    )


def _uuid(value: Any) -> UUID:
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise _invalid("not a UUID")
