"""POST /login: the token pair, the access token's signature and claims, generic failures."""

from __future__ import annotations

import time
import uuid

import asyncpg
import jwt

from tests.auth.conftest import API, PASSWORD, AuthFixture, problem, verify_with_jwks


async def test_login_answers_an_uncacheable_bearer_pair(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")

    response = await auth.client.post(
        f"{API}/login", json={"email": "ada@example.com", "password": PASSWORD}
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_token"] != pair["access_token"]
    assert len(pair["refresh_token"]) >= 43  # 256 random bits


async def test_the_access_token_verifies_against_the_published_jwks(auth: AuthFixture) -> None:
    user = await auth.register("Ada@Example.com")
    before = int(time.time())
    pair = await auth.login("ada@example.com")
    jwks = await auth.jwks()

    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    for key in jwks["keys"]:
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert "d" not in key  # never the private half

    claims = verify_with_jwks(pair["access_token"], jwks, auth)
    assert set(claims) == {
        *("sub", "sid", "jti", "roles", "email", "email_verified"),
        *("iss", "aud", "iat", "exp"),
    }
    assert claims["sub"] == user["id"]
    uuid.UUID(claims["sid"])
    assert claims["roles"] == ["customer"]
    assert claims["email"] == "Ada@example.com"
    assert claims["email_verified"] is False
    assert claims["iss"] == "shop-auth"
    assert claims["aud"] == "shop"
    assert before - 1 <= claims["iat"] <= time.time() + 1
    assert claims["exp"] == claims["iat"] + 900


async def test_every_login_is_a_session_of_its_own(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")
    first, second = await auth.login("ada@example.com"), await auth.login("ada@example.com")
    jwks = await auth.jwks()

    one = verify_with_jwks(first["access_token"], jwks, auth)
    two = verify_with_jwks(second["access_token"], jwks, auth)
    assert one["sid"] != two["sid"]
    assert one["jti"] != two["jti"]
    assert first["refresh_token"] != second["refresh_token"]


async def test_the_jwks_is_public_and_cacheable(auth: AuthFixture) -> None:
    response = await auth.client.get(f"{API}/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    [key] = response.json()["keys"]
    assert key["use"] == "sig"
    assert key["alg"] == "EdDSA"


async def test_wrong_password_and_unknown_email_fail_alike(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")

    wrong = await auth.try_login("ada@example.com", "not the password at all")
    unknown = await auth.try_login("nobody@example.com", PASSWORD)
    malformed = await auth.try_login("not an email", PASSWORD)

    body = problem(wrong, 401)
    assert body["detail"] == "The email or password is incorrect."
    assert unknown.status_code == malformed.status_code == 401
    assert unknown.content == wrong.content == malformed.content
    assert unknown.headers["content-type"] == wrong.headers["content-type"]


async def test_an_inactive_user_fails_like_a_wrong_password(
    auth: AuthFixture, db: asyncpg.Connection
) -> None:
    await auth.register("ada@example.com")
    wrong = await auth.try_login("ada@example.com", "not the password at all")
    await db.execute("UPDATE users SET is_active = false")

    inactive = await auth.try_login("ada@example.com", PASSWORD)

    assert inactive.status_code == 401
    assert inactive.content == wrong.content


async def test_login_takes_the_email_in_any_case(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")

    pair = await auth.login("  ADA@example.COM ")

    assert (await auth.me(pair["access_token"])).json()["email"] == "ada@example.com"


async def test_an_unverified_user_may_log_in(auth: AuthFixture) -> None:
    await auth.register("ada@example.com")

    pair = await auth.login("ada@example.com")

    me = await auth.me(pair["access_token"])
    assert me.status_code == 200
    assert me.json()["email_verified"] is False
