"""The keys that sign access tokens (Ed25519), published as a JWKS.

Unless a key is given in configuration, keys are PEM files in
``$SHOP_DATA_DIR/keys``: the first start generates one; the newest file
signs and every file verifies, so a key is rotated by adding a new file and
removing the old one after the last token it signed has expired.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

ALGORITHM = "EdDSA"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.public_key))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    @classmethod
    def from_private_key(cls, key: Ed25519PrivateKey) -> SigningKey:
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        # RFC 7638 thumbprint: a kid that names the key itself.
        canonical = json.dumps(
            {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":")
        )
        return cls(_b64url(hashlib.sha256(canonical.encode()).digest()), key)

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key must be an Ed25519 private key")
        return cls.from_private_key(key)


@dataclass(frozen=True)
class KeyRing:
    current: SigningKey
    all: tuple[SigningKey, ...]

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [key.public_jwk() for key in self.all]}

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {key.kid: key.public_key for key in self.all}


def _write_new_key(directory: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = directory / ".new-key.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    temporary.rename(directory / f"{SigningKey.from_pem(pem).kid}.pem")


def load_key_ring(directory: Path, configured_pem: str | None = None) -> KeyRing:
    if configured_pem:
        key = SigningKey.from_pem(configured_pem.encode())
        return KeyRing(key, (key,))
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Several instances may start at once on one data directory: one generates.
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not list(directory.glob("*.pem")):
            _write_new_key(directory)
        files = sorted(directory.glob("*.pem"), key=lambda path: path.stat().st_mtime)
        keys = tuple(SigningKey.from_pem(path.read_bytes()) for path in files)
    return KeyRing(current=keys[-1], all=keys)
