"""GET and PATCH /me, and how a protected route treats missing or bad tokens."""

from __future__ import annotations

import base64
import json

import asyncpg
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.auth.conftest import API, AuthFixture, bearer, problem


async def test_me_is_the_caller(auth: AuthFixture) -> None:
    user = await auth.register("ada@example.com")
    pair = await auth.login("ada@example.com")

    response = await auth.me(pair["access_token"])

    assert response.status_code == 200
    assert response.json() == user


async def test_patch_me_changes_the_full_name(auth: AuthFixture, db: asyncpg.Connection) -> None:
    pair = await auth.verified_user("ada@example.com")
    before = await db.fetchval("SELECT updated_at FROM users")

    response = await auth.client.patch(
        f"{API}/me", json={"full_name": "Augusta Ada King"}, headers=bearer(pair["access_token"])
    )

    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Augusta Ada King"
    assert response.json()["email"] == "ada@example.com"
    assert (await auth.me(pair["access_token"])).json()["full_name"] == "Augusta Ada King"
    assert await db.fetchval("SELECT updated_at FROM users") > before


async def test_patch_me_takes_the_full_name_only(auth: AuthFixture, db: asyncpg.Connection) -> None:
    pair = await auth.verified_user("ada@example.com")

    for body in (
        {"email": "eve@example.com"},
        {"roles": ["admin"]},
        {"full_name": "Ada", "roles": ["admin"]},
        {"full_name": "Ada", "email_verified": False},
        {"full_name": ""},
        {},
    ):
        response = await auth.client.patch(
            f"{API}/me", json=body, headers=bearer(pair["access_token"])
        )
        assert problem(response, 422)["errors"], body

    row = await db.fetchrow("SELECT email, roles, full_name, email_verified FROM users")
    assert dict(row) == {
        "email": "ada@example.com",
        "roles": ["customer"],
        "full_name": "Ada Lovelace",
        "email_verified": True,
    }


async def test_no_token_is_401_with_a_bearer_challenge(auth: AuthFixture) -> None:
    for method, path in (("GET", "/me"), ("PATCH", "/me"), ("GET", "/users")):
        response = await auth.client.request(method, f"{API}{path}", json={"full_name": "x"})
        assert problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"

    basic = await auth.client.get(f"{API}/me", headers={"authorization": "Basic YTpi"})
    assert problem(basic, 401)
    assert basic.headers["www-authenticate"] == "Bearer"


AT_JWT = {"typ": "at+jwt"}  # so that what a forgery is about is all that is wrong


def _forged(pair_token: str, **changes: object) -> str:
    """The token with its claims changed and its signature kept."""
    header, payload, signature = pair_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{raw}.{signature}"


async def test_bad_tokens_are_401_invalid_token(auth: AuthFixture) -> None:
    pair = await auth.verified_user("ada@example.com")
    token = pair["access_token"]
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, options={"verify_signature": False})
    other_key = Ed25519PrivateKey.generate()

    for bad in (
        "not-a-jwt",
        token[:-4] + "AAAA",  # signature broken
        _forged(token, roles=["admin", "customer"]),
        jwt.encode(claims, other_key, algorithm="EdDSA", headers={"kid": kid, **AT_JWT}),
        jwt.encode(
            claims,
            "secret-long-enough-for-hmac-sha256!",
            algorithm="HS256",
            headers={"kid": kid, **AT_JWT},
        ),
        jwt.encode(
            {**claims, "exp": claims["iat"] - 60}, other_key, algorithm="EdDSA", headers=AT_JWT
        ),
        # Signed by the service's own key, but typed as some other JWT ("JWT").
        jwt.encode(
            claims,
            auth.app.state.keys.ring().current.private_key,
            algorithm="EdDSA",
            headers={"kid": kid},
        ),
    ):
        response = await auth.me(bad)
        assert problem(response, 401)["type"].endswith("/invalid-token"), bad
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'

    assert (await auth.me(token)).status_code == 200
