"""The keys that sign access tokens (Ed25519), published as a JWKS.

Unless a key is given in configuration, keys are PEM files in
``$SHOP_DATA_DIR/keys``, re-read every second by every instance that shares
the directory. The first start generates one. A key is published (and
verifies) from the moment its file appears, but signs only once its file is
``JWT_KEY_ACTIVATION_SECONDS`` old: by then every verifier has fetched it, so
no token is ever signed by a key a verifier cannot know yet. The newest active
key signs; the one it replaced keeps verifying (and being published) for an
access token's lifetime, then ages out, so a key is rotated by adding a file
(and the old file deleted at leisure).

With ``JWT_PRIVATE_KEY`` that key signs, and ``JWT_PREVIOUS_PUBLIC_KEYS``
(PEM public keys) are published and verify without signing.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from shop.kit.identity import KeySource, as_jwk

ALGORITHM = "EdDSA"
log = structlog.get_logger("shop.auth")
# How often an instance looks for new or removed key files.
RELOAD_SECONDS = 1.0
# Past an access token's lifetime, how long a replaced key still verifies (clock skew).
RETIRE_MARGIN_SECONDS = 60
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint: a kid that names the key itself."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":")
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(kid: str, key: Ed25519PublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.kid, self.public_key)

    @classmethod
    def from_private_key(cls, key: Ed25519PrivateKey) -> SigningKey:
        return cls(thumbprint(key.public_key()), key)

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key must be an Ed25519 private key")
        return cls.from_private_key(key)


@dataclass(frozen=True)
class KeyRing:
    """The keys at one moment: ``current`` signs; ``all`` (``current`` among them) and
    ``previous`` (public keys only) verify and are published."""

    current: SigningKey
    all: tuple[SigningKey, ...]
    previous: tuple[Ed25519PublicKey, ...] = ()

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [public_jwk(kid, key) for kid, key in self.public_keys().items()]}

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        keys = {key.kid: key.public_key for key in self.all}
        for key in self.previous:
            keys.setdefault(thumbprint(key), key)
        return keys


class Keys(Protocol):
    """Where the key ring comes from; asked on every use, so it may change."""

    def ring(self) -> KeyRing: ...


@dataclass(frozen=True)
class ConfiguredKeys(Keys):
    """``JWT_PRIVATE_KEY`` and ``JWT_PREVIOUS_PUBLIC_KEYS``: fixed for the process."""

    fixed: KeyRing

    def ring(self) -> KeyRing:
        return self.fixed


def public_keys_from_pem(text: str) -> tuple[Ed25519PublicKey, ...]:
    """Every Ed25519 public key in ``text`` (concatenated PEM blocks)."""
    keys = []
    for block in _PEM_BLOCK.findall(text):
        try:
            key = serialization.load_pem_public_key(block.encode())
        except ValueError:
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("JWT_PREVIOUS_PUBLIC_KEYS must hold Ed25519 public keys")
        keys.append(key)
    if text.strip() and not keys:
        raise ValueError("JWT_PREVIOUS_PUBLIC_KEYS holds no PEM public key")
    return tuple(keys)


def ring_at(
    files: list[tuple[float, SigningKey]], now: float, activation: float, retire_after: float
) -> KeyRing:
    """The ring that key files of these modification times make at ``now``.

    The newest key whose file is ``activation`` seconds old signs (the oldest key
    when none is: the very first key signs at once). Keys newer than it are
    published ahead of use; an older key verifies until ``retire_after`` seconds
    after the key that replaced it began to sign.
    """
    files = sorted(files, key=lambda item: item[0])
    active = [index for index, (mtime, _) in enumerate(files) if mtime <= now - activation]
    signer = active[-1] if active else 0
    kept = [
        key
        for index, (_, key) in enumerate(files)
        if index >= signer or files[index + 1][0] + activation + retire_after > now
    ]
    return KeyRing(current=files[signer][1], all=tuple(kept))


def _write_new_key(directory: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = directory / ".new-key.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    temporary.rename(directory / f"{SigningKey.from_pem(pem).kid}.pem")


class KeyDirectory(Keys):
    """Key files in a directory that instances share, re-read every RELOAD_SECONDS."""

    def __init__(self, directory: Path, *, activation_seconds: float, retire_after: float) -> None:
        self.directory = directory
        self.activation = activation_seconds
        self.retire_after = retire_after
        self._parsed: dict[Path, tuple[float, SigningKey]] = {}
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Several instances may start at once on one data directory: one generates.
        with (directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not list(directory.glob("*.pem")):
                _write_new_key(directory)
        self.ring()

    def ring(self) -> KeyRing:
        if self._ring is None or time.monotonic() - self._loaded_at >= RELOAD_SECONDS:
            self._ring = self._load()
            self._loaded_at = time.monotonic()
        return self._ring

    def _load(self) -> KeyRing:
        files: dict[Path, tuple[float, SigningKey]] = {}
        for path in self.directory.glob("*.pem"):
            try:
                mtime = path.stat().st_mtime
                known = self._parsed.get(path)
                key = (
                    known[1]
                    if known and known[0] == mtime
                    else SigningKey.from_pem(path.read_bytes())
                )
            except FileNotFoundError:  # removed while we looked
                continue
            except (ValueError, TypeError) as exc:
                # Half-copied, or not an Ed25519 key: the others go on signing.
                log.warning("key file skipped", path=str(path), error=str(exc))
                continue
            files[path] = (mtime, key)
        if not files:
            if self._ring is not None:
                return self._ring  # all removed: keep signing rather than stop
            raise RuntimeError(f"no key files in {self.directory}")
        self._parsed = files
        return ring_at(list(files.values()), time.time(), self.activation, self.retire_after)


def load_keys(
    directory: Path,
    configured_pem: str | None = None,
    previous_public_pem: str | None = None,
    *,
    activation_seconds: float = 0,
    retire_after: float = 0,
) -> Keys:
    if configured_pem:
        key = SigningKey.from_pem(configured_pem.encode())
        previous = public_keys_from_pem(previous_public_pem or "")
        return ConfiguredKeys(KeyRing(key, (key,), previous))
    return KeyDirectory(directory, activation_seconds=activation_seconds, retire_after=retire_after)


class RingKeySource(KeySource):
    """The auth service's own verification keys, as the ring has them now."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        # One object per key, so that verified tokens stay remembered (see TokenVerifier).
        self._jwks: dict[str, Any] = {}

    async def key(self, kid: str) -> Any:
        public = self.keys.ring().public_keys()[kid]  # KeyError: unknown or aged out
        known = self._jwks.get(kid)
        if known is None:
            known = self._jwks[kid] = as_jwk(public)
        return known
