"""Where the public keys that verify access tokens come from (see :mod:`shop.kit.identity`).

Every key is turned into a :class:`jwt.PyJWK`, which binds it to exactly one
algorithm: a token whose header names another algorithm than its key's is
rejected, so no key can be used in a way it was not meant for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

# The only algorithms an access token may be signed with. Never HS*, RS* or none.
ALLOWED_ALGORITHMS: tuple[str, ...] = ("EdDSA", "ES256")

log = structlog.get_logger("shop.identity")


class KeySource(Protocol):
    """Public keys by key ID (a token's ``kid`` header).

    ``key`` returns a :class:`jwt.PyJWK` or a cryptography public key that
    ``jwt.decode`` accepts, and raises :class:`LookupError` (``KeyError``)
    when it has no key of that ID.
    """

    async def key(self, kid: str) -> Any: ...


def as_jwk(key: Any) -> jwt.PyJWK:
    """The key as a :class:`jwt.PyJWK` bound to one algorithm.

    Takes a ``PyJWK``, an Ed25519 or P-256 key of cryptography (a private key
    stands for its public half) or a JWK dict. Raises :class:`TypeError` for
    anything else.
    """
    if isinstance(key, jwt.PyJWK):
        return key
    if isinstance(key, Mapping):
        return jwt.PyJWK(dict(key))
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return jwt.PyJWK(OKPAlgorithm.to_jwk(key, as_dict=True), "EdDSA")
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return jwt.PyJWK(ECAlgorithm.to_jwk(key, as_dict=True), "ES256")
    raise TypeError(f"not an Ed25519 or P-256 key: {type(key).__name__}")


class StaticKeySource(KeySource):
    """A fixed set of keys, for the auth service that holds its own keys."""

    def __init__(self, keys: Mapping[str, Any]) -> None:
        self._keys = {kid: as_jwk(key) for kid, key in keys.items()}

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> StaticKeySource:
        """From a JWKS document (``{"keys": [...]}``); keys without ``kid`` are skipped."""
        key_set = jwt.PyJWKSet.from_dict(dict(jwks))
        return cls({key.key_id: key for key in key_set if key.key_id})

    async def key(self, kid: str) -> jwt.PyJWK:
        return self._keys[kid]


class JwksKeySource(KeySource):
    """Keys fetched from a JWKS URL (the auth service's ``/.well-known/jwks.json``).

    Keys are cached by ``kid``. An unknown ``kid`` triggers a fetch, so that a
    new signing key works as soon as it is published; but fetches happen at
    most once every ``min_refresh_interval`` seconds, so that a flood of tokens
    with made-up ``kid`` values cannot turn into a flood of requests. The whole
    set is refreshed once it is ``max_age`` seconds old.

    Each fetch is merged into the keys known, never replaces them: behind a load
    balancer, one auth instance may publish a new key a moment before another,
    and a fetch that happened to reach the second must not forget it. A key is
    retired once no fetch has published it for ``retention`` seconds (an access
    token's lifetime). When a fetch fails, the keys already known stay in use;
    with none known, verification fails (closed).
    """

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        min_refresh_interval: float = 10.0,
        max_age: float = 300.0,
        retention: float = 900.0,
    ) -> None:
        self._url = url
        self._client = client
        self._min_refresh_interval = min_refresh_interval
        self._max_age = max_age
        self._retention = retention
        self._keys: dict[str, jwt.PyJWK] = {}
        self._published_at: dict[str, float] = {}  # kid -> last fetch that published it
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        if kid in self._keys and (not self._is_stale() or self._lock.locked()):
            return self._keys[kid]  # known keys never wait for a refresh under way
        async with self._lock:  # one fetch at a time; the others wait and reuse it
            if (self._is_stale() or kid not in self._keys) and self._may_fetch():
                await self._fetch()
        return self._keys[kid]  # KeyError: no such key

    def _is_stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self._max_age

    def _may_fetch(self) -> bool:
        return (
            self._attempted_at is None
            or time.monotonic() - self._attempted_at >= self._min_refresh_interval
        )

    async def _fetch(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            response = await self._client.get(self._url, headers={"accept": "application/json"})
            response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, TypeError, AttributeError, jwt.PyJWTError) as exc:
            log.warning(
                "cannot fetch the token signing keys",
                url=self._url,
                error=type(exc).__name__,
                cached_keys=len(self._keys),
            )
            return
        now = time.monotonic()
        published: dict[str, jwt.PyJWK] = {}
        for key in key_set:
            if key.key_id and key.public_key_use in (None, "sig"):
                published.setdefault(key.key_id, key)
        keys = dict(self._keys)
        for kid, key in published.items():
            known = keys.get(kid)
            # The same key keeps its object: tokens it verified stay remembered.
            if known is None or _material(known) != _material(key):
                keys[kid] = key
            self._published_at[kid] = now
        for kid in list(keys):
            if now - self._published_at.get(kid, now) >= self._retention:
                del keys[kid], self._published_at[kid]
        self._keys = keys
        self._fetched_at = now
        log.info("token signing keys fetched", url=self._url, kids=sorted(keys))


def _material(key: jwt.PyJWK) -> Any:
    """The key itself, as its public JWK members (``kty``, ``crv``, ``x``, ``y``)."""
    return key.Algorithm.to_jwk(key.key, as_dict=True), key.algorithm_name
