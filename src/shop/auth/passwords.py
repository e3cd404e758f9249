"""Password hashing and policy.

bcrypt reads at most 72 bytes, so the password is first reduced to a fixed
44-byte SHA-256 digest (base64): long passwords keep all their entropy and
are never silently truncated. Hashing runs in a worker thread (bcrypt
releases the GIL) so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from functools import cache

import bcrypt
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 8
MAX_LENGTH = 128


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


async def hash_password(password: str, rounds: int) -> str:
    salt = bcrypt.gensalt(rounds)
    hashed = await asyncio.to_thread(bcrypt.hashpw, _prehash(password), salt)
    return hashed.decode()


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(bcrypt.checkpw, _prehash(password), password_hash.encode())


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problems(password: str, email: str) -> list[str]:
    """Why a new password is refused; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    if password.lower() in _common_passwords():
        problems.append("is too common")
    if password.strip().lower() == email.strip().lower():
        problems.append("must not be your email address")
    return problems
