"""What the identity tests share: real signing keys, tokens, a JWKS server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from redis.asyncio import Redis

from shop.kit.identity import session_key
from tests.support import served

ISSUER = "shop-auth"
AUDIENCE = "shop"


@dataclass(frozen=True)
class SigningKey:
    """A key pair as the auth service holds it: private half signs, public half verifies."""

    kid: str
    private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    algorithm: str

    @classmethod
    def generate(cls, algorithm: str = "EdDSA", kid: str | None = None) -> SigningKey:
        private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
        if algorithm == "EdDSA":
            private_key = ed25519.Ed25519PrivateKey.generate()
        else:
            private_key = ec.generate_private_key(ec.SECP256R1())
        return cls(kid or f"kid-{uuid.uuid4().hex[:12]}", private_key, algorithm)

    @property
    def public_key(self) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        if isinstance(self.public_key, ed25519.Ed25519PublicKey):
            data = OKPAlgorithm.to_jwk(self.public_key, as_dict=True)
        else:
            data = ECAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {**data, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, "typ": "at+jwt", **header}
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers=headers)


def claims(
    *,
    roles: tuple[str, ...] = ("customer",),
    email_verified: bool = True,
    session_id: uuid.UUID | None = None,
    lifetime: float = 300,
    **overrides: Any,
) -> dict[str, Any]:
    """The claims of an access token as the auth service issues them."""
    now = int(time.time())
    body: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "sid": str(session_id or uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "roles": list(roles),
        "email": "ada@example.com",
        "email_verified": email_verified,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": int(now + lifetime),
    }
    body.update(overrides)
    return body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(header: dict[str, Any], body: dict[str, Any], secret: bytes | None) -> str:
    """A token assembled without PyJWT, which refuses to make the malicious ones:
    unsigned (``secret`` None) or HMAC-SHA256 signed with ``secret``. Typed as an
    access token unless ``header`` says otherwise, so only what it is about is wrong."""
    header = {"typ": "at+jwt", **header}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def open_session(redis: Redis, session_id: uuid.UUID | str | None = None) -> str:
    """Makes a session alive as the auth service does; returns its ID."""
    sid = str(session_id or uuid.uuid4())
    await redis.set(session_key(sid), "alive", ex=600)
    return sid


async def live_token(redis: Redis, key: SigningKey, **claim_options: Any) -> str:
    """A token of ``key`` whose session is alive."""
    sid = await open_session(redis)
    return key.sign(claims(session_id=uuid.UUID(sid), **claim_options))


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class JwksServer:
    """A stand-in for the auth service's JWKS endpoint that counts its requests."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    answered: int = 0
    broken: bool = False
    # Cleared, the server holds its answers until it is set again (a slow auth service).
    answering: threading.Event = field(default_factory=_set_event)

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk() for key in keys]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/jwks.json", response_model=None)
        async def jwks() -> Any:
            self.requests += 1
            if not self.answering.is_set():
                await asyncio.to_thread(self.answering.wait, 60)
            self.answered += 1
            if self.broken:
                return {"error": "not a key set"}
            return {"keys": list(self.keys)}

        return app

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serves the key set; yields its URL."""
        with served(self.app()) as base_url:
            yield f"{base_url}/jwks.json"


@asynccontextmanager
async def redis_client(url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)
    try:
        yield client
    finally:
        await client.aclose()
