"""Signing keys: generated once into the data directory, rotated by adding a file,
or given in configuration; key IDs are RFC 7638 thumbprints."""

from __future__ import annotations

import asyncio
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

from shop.auth.app import create_app
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


ACTIVATION = 600  # JWT_KEY_ACTIVATION_SECONDS, the default


def backdate(path: Path, mtime: float) -> None:
    os.utime(path, (mtime, mtime))


async def eventually_kids(service: AuthFixture, expected: list[str]) -> None:
    """Waits for the JWKS to list exactly ``expected`` (instances re-read key files
    every second)."""
    deadline = time.monotonic() + 15
    while (found := kids(await service.jwks())) != sorted(expected):
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)


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
    # Both files as they are once the new one is past its activation delay.
    now = time.time()
    backdate(old_pem, now - 3 * ACTIVATION)
    backdate(new_pem, now - ACTIVATION - 1)

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


async def test_a_new_key_file_is_published_at_once_signs_after_its_delay_then_retires_the_old(
    auth: AuthFixture,
) -> None:
    assert auth.settings.jwt_key_activation_seconds == ACTIVATION
    await auth.register("ada@example.com")
    [old_pem] = (auth.settings.data_dir / "keys").glob("*.pem")
    backdate(old_pem, time.time() - 3 * ACTIVATION)
    old_pair = await auth.login("ada@example.com")
    new_key = Ed25519PrivateKey.generate()
    new_kid = SigningKey.from_private_key(new_key).kid
    new_pem = old_pem.with_name(f"{new_kid}.pem")

    # Added to the running instance: published at once, for verifiers to fetch...
    new_pem.write_bytes(pem_of(new_key))
    await eventually_kids(auth, [old_pem.stem, new_kid])
    # ...but the old key still signs until the new one is ACTIVATION old.
    assert kid_of((await auth.login("ada@example.com"))["access_token"]) == old_pem.stem

    backdate(new_pem, time.time() - ACTIVATION - 1)  # as if that much time had passed
    deadline = time.monotonic() + 15
    while kid_of((new_pair := await auth.login("ada@example.com"))["access_token"]) != new_kid:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    # The old key's tokens keep working for an access token's lifetime.
    assert (await auth.me(old_pair["access_token"])).status_code == 200
    await eventually_kids(auth, [old_pem.stem, new_kid])

    # The new key has signed for longer than an access token lives: the old one retires.
    backdate(new_pem, time.time() - ACTIVATION - auth.settings.access_token_ttl_seconds - 61)
    await eventually_kids(auth, [new_kid])
    assert (await auth.me(old_pair["access_token"])).status_code == 401
    assert (await auth.me(new_pair["access_token"])).status_code == 200


def public_pem_of(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def test_previous_public_keys_are_published_and_verify_but_never_sign(
    auth: AuthFixture, settings_for: SettingsFactory, tmp_path: Path
) -> None:
    old, new, next_ = (Ed25519PrivateKey.generate() for _ in range(3))
    [old_kid, new_kid, next_kid] = (SigningKey.from_private_key(k).kid for k in (old, new, next_))
    before = settings_for(tmp_path / "before", jwt_private_key=pem_of(old).decode())
    after = settings_for(
        tmp_path / "after",
        jwt_private_key=pem_of(new).decode(),
        # The key before, and the one the next rotation brings, published ahead of it.
        jwt_previous_public_keys=public_pem_of(old) + "\n" + public_pem_of(next_),
    )

    async with running(before) as old_instance, running(after) as new_instance:
        await old_instance.register("ada@example.com")
        old_pair = await old_instance.login("ada@example.com")
        assert kids(await new_instance.jwks()) == sorted([old_kid, new_kid, next_kid])
        new_pair = await new_instance.login("ada@example.com")
        assert kid_of(new_pair["access_token"]) == new_kid
        assert (await new_instance.me(old_pair["access_token"])).status_code == 200
        assert (await old_instance.me(new_pair["access_token"])).status_code == 401


def test_previous_public_keys_must_be_ed25519_public_keys(
    settings_for: SettingsFactory, tmp_path: Path
) -> None:
    key = pem_of(Ed25519PrivateKey.generate()).decode()
    for wrong in ("not a pem", pem_of(ec.generate_private_key(ec.SECP256R1())).decode()):
        settings = settings_for(tmp_path, jwt_private_key=key, jwt_previous_public_keys=wrong)
        with pytest.raises(ValueError, match="JWT_PREVIOUS_PUBLIC_KEYS"):
            create_app(settings)


async def test_a_half_written_key_file_is_skipped_not_a_500(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    [pem] = (auth.settings.data_dir / "keys").glob("*.pem")
    (pem.parent / "being-copied.pem").write_bytes(pem_of(Ed25519PrivateKey.generate())[:40])
    await asyncio.sleep(1.1)  # past the instance's next look at the directory

    assert kids(await auth.jwks()) == [pem.stem]
    assert kid_of((await auth.login("ada@example.com"))["access_token"]) == pem.stem
