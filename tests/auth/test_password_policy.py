"""shop.auth.passwords: the policy and the hashing, as plain functions."""

from __future__ import annotations

import asyncio

import bcrypt
import pytest

from shop.auth.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    hash_password,
    password_problems,
    verify_password,
)

EMAIL = "ada@example.com"


@pytest.mark.parametrize(
    "password",
    [
        "Zq8#vLw2",  # exactly the minimum
        "x7" * 64,  # exactly the maximum
        "correct horse battery staple",
        "pässwörd-mit-ümläuten",
        "ada@example.org",  # like the email, but not it
    ],
)
def test_acceptable_passwords_have_no_problems(password: str) -> None:
    assert password_problems(password, EMAIL) == []


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("", [f"must be at least {MIN_LENGTH} characters"]),
        ("Zq8#vLw", [f"must be at least {MIN_LENGTH} characters"]),
        ("x7" * 64 + "!", [f"must be at most {MAX_LENGTH} characters"]),
        ("password1", ["is too common"]),
        ("PASSWORD1", ["is too common"]),
        ("qwertyuiop", ["is too common"]),
        ("123456", ["must be at least 8 characters", "is too common"]),
        (EMAIL, ["must not be your email address"]),
        (" ADA@Example.COM ", ["must not be your email address"]),
    ],
)
def test_weak_passwords_say_why(password: str, problems: list[str]) -> None:
    assert password_problems(password, EMAIL) == problems


def test_the_limits_are_the_documented_ones() -> None:
    assert (MIN_LENGTH, MAX_LENGTH) == (8, 128)


def test_length_counts_characters_not_bytes() -> None:
    assert password_problems("ü" * 8, EMAIL) == []  # 16 bytes in UTF-8
    assert password_problems("ü" * 7, EMAIL) == ["must be at least 8 characters"]


async def test_a_hash_verifies_its_password_only() -> None:
    hashed = await hash_password("correct horse battery staple", 4)

    assert hashed.startswith("$2b$04$")
    assert await verify_password("correct horse battery staple", hashed)
    assert not await verify_password("correct horse battery stapl", hashed)
    assert not await verify_password("Correct horse battery staple", hashed)
    assert not await verify_password("", hashed)


async def test_hashes_are_salted_and_costed_as_asked() -> None:
    first, second = await asyncio.gather(hash_password("same", 4), hash_password("same", 5))

    assert first != second
    assert first.startswith("$2b$04$")
    assert second.startswith("$2b$05$")
    assert await verify_password("same", first)
    assert await verify_password("same", second)


async def test_every_byte_of_a_long_password_counts() -> None:
    password = "p" * 72 + "tail that bcrypt alone would ignore"
    hashed = await hash_password(password, 4)

    assert await verify_password(password, hashed)
    assert not await verify_password("p" * 72, hashed)
    assert not await verify_password("p" * 72 + "another tail", hashed)
    # Not the raw password given to bcrypt (which would cut it at 72 bytes).
    assert not bcrypt.checkpw(("p" * 72).encode(), hashed.encode())


async def test_non_ascii_passwords_round_trip() -> None:
    hashed = await hash_password("пароль-密码-🔑🔑", 4)

    assert await verify_password("пароль-密码-🔑🔑", hashed)
    assert not await verify_password("пароль-密码-🔑", hashed)
