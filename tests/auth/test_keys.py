"""Signing keys: generated once into the data directory, rotated by adding a file,
or given in configuration; key IDs are RFC 7638 thumbprints."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shop.auth.keys import SigningKey
from tests.auth.conftest import AuthFixture, SettingsFactory, running, verify_with_jwks


def pem_of(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def kids(jwks: dict[str, list[dict[str, str]]]) -> list[str]:
    return sorted(key["kid"] for key in jwks["keys"])


def kid_of(access_token: str) -> str:
    kid: str = jwt.get_unverified_header(access_token)["kid"]
    return kid


# RFC 8037 appendix A: an Ed25519 key and, in A.3, its RFC 7638 thumbprint.
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def rfc8037_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(RFC8037_D + "="))


def test_the_kid_is_the_rfc7638_thumbprint() -> None:
    key = SigningKey.from_private_key(rfc8037_key())

    assert key.kid == RFC8037_THUMBPRINT
    jwk = key.public_jwk()
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8037_X,
        "kid": RFC8037_THUMBPRINT,
        "use": "sig",
        "alg": "EdDSA",
    }
    assert SigningKey.from_pem(pem_of(rfc8037_key())).kid == RFC8037_THUMBPRINT


def test_any_key_gets_its_own_thumbprint() -> None:
    key = SigningKey.from_private_key(Ed25519PrivateKey.generate())
    jwk = key.public_jwk()
    members = json.dumps({m: jwk[m] for m in ("crv", "kty", "x")}, separators=(",", ":"))
    expected = base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=")

    assert key.kid == expected.decode()
    assert SigningKey.from_private_key(Ed25519PrivateKey.generate()).kid != key.kid


def test_only_ed25519_keys_sign() -> None:
    with pytest.raises(ValueError, match="Ed25519"):
        SigningKey.from_pem(pem_of(ec.generate_private_key(ec.SECP256R1())))


async def test_the_first_start_writes_one_private_key_file(
    auth: AuthFixture, tmp_path: Path
) -> None:
    keys_dir = tmp_path / "keys"  # the test's own data directory, never the developer's
    assert auth.settings.keys_dir == keys_dir
    [pem] = keys_dir.glob("*.pem")

    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert kids(await auth.jwks()) == [pem.stem]
    assert SigningKey.from_pem(pem.read_bytes()).kid == pem.stem

    async with running(auth.settings) as second:  # another instance, same data directory
        assert await second.jwks() == await auth.jwks()
        await second.register("ada@example.com")
        assert kid_of((await second.login("ada@example.com"))["access_token"]) == pem.stem
    assert list(keys_dir.glob("*.pem")) == [pem]


async def test_a_newer_key_file_signs_and_the_older_still_verifies(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    old_pair = await auth.login("ada@example.com")
    [old_pem] = (auth.settings.data_dir / "keys").glob("*.pem")
    new_key = Ed25519PrivateKey.generate()
    new_pem = old_pem.with_name("2026-rotation.pem")
    new_pem.write_bytes(pem_of(new_key))
    later = time.time() + 60
    os.utime(new_pem, (later, later))

    async with running(auth.settings) as rotated:
        jwks = await rotated.jwks()
        new_kid = SigningKey.from_private_key(new_key).kid
        assert kids(jwks) == sorted([old_pem.stem, new_kid])

        new_pair = await rotated.login("ada@example.com")
        assert kid_of(new_pair["access_token"]) == new_kid
        verify_with_jwks(new_pair["access_token"], jwks, rotated)
        # Tokens signed before the rotation keep working until they expire.
        assert kid_of(old_pair["access_token"]) == old_pem.stem
        assert (await rotated.me(old_pair["access_token"])).status_code == 200
        assert (await rotated.me(new_pair["access_token"])).status_code == 200


async def test_a_configured_key_is_used_instead_of_files(
    auth: AuthFixture, settings_for: SettingsFactory, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    kid = SigningKey.from_private_key(key).kid
    settings = settings_for(tmp_path / "configured", jwt_private_key=pem_of(key).decode())

    async with running(settings) as configured:
        assert kids(await configured.jwks()) == [kid]
        await configured.register("ada@example.com")
        pair = await configured.login("ada@example.com")
        assert kid_of(pair["access_token"]) == kid
        claims = jwt.decode(
            pair["access_token"], key.public_key(), algorithms=["EdDSA"], audience="shop"
        )
        assert claims["email"] == "ada@example.com"
        # The file-based instance does not know this key.
        assert (await auth.me(pair["access_token"])).status_code == 401

    assert not (tmp_path / "configured" / "keys").exists()
