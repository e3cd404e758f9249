"""Every row of the Auth table, through the gateway, over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jwt
import pytest

from shop.auth.app import create_app as create_auth_app
from shop.gateway.app import create_app as create_gateway_app
from shop.gateway.config import GatewaySettings
from tests.auth.conftest import PASSWORD, AuthFixture, SettingsFactory, bearer
from tests.support import served

API = "/api/v1/auth"
NEW_PASSWORD = "an entirely different passphrase"


@contextmanager
def edge(settings_for: SettingsFactory, redis_url: str) -> Iterator[str]:
    """The auth service and the gateway, each behind a real server; yields the gateway URL."""
    with served(create_auth_app(settings_for())) as auth_url:
        gateway = GatewaySettings(
            auth_urls=[auth_url],
            redis_url=redis_url,
            jwks_url=auth_url + API + "/.well-known/jwks.json",
            log_format="json",
        )
        with served(create_gateway_app(gateway)) as gateway_url:
            yield gateway_url


@pytest.fixture
async def gateway(
    auth: AuthFixture, settings_for: SettingsFactory, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    # `auth` empties the tables afterwards; its mailbox is the one these apps write to.
    with edge(settings_for, redis_url) as url:
        async with httpx.AsyncClient(base_url=url + API, timeout=15) as client:
            yield client


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_every_auth_route_through_the_gateway(
    gateway: httpx.AsyncClient, auth: AuthFixture
) -> None:
    address = "route@example.com"
    registered = await gateway.post(
        "/register", json={"email": address, "password": PASSWORD, "full_name": "Route"}
    )
    assert registered.status_code == 201
    token = await auth.mailbox.link_token(address)
    verified = await gateway.post("/verify-email", json={"token": token})
    assert verified.json()["email_verified"] is True
    assert (await gateway.post("/resend-verification", json={"email": address})).status_code == 202

    pair = (await gateway.post("/login", json={"email": address, "password": PASSWORD})).json()
    me = await gateway.get("/me", headers=bearer(pair["access_token"]))
    assert me.json()["email"] == address
    patched = await gateway.patch(
        "/me", json={"full_name": "Renamed"}, headers=bearer(pair["access_token"])
    )
    assert patched.json()["full_name"] == "Renamed"
    pair = (await gateway.post("/refresh", json={"refresh_token": pair["refresh_token"]})).json()
    changed = await gateway.post(
        "/password/change",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(pair["access_token"]),
    )
    assert changed.status_code == 204
    logout = await gateway.post("/logout", json={}, headers=bearer(pair["access_token"]))
    assert logout.status_code == 204
    dead = await gateway.get("/me", headers=bearer(pair["access_token"]))
    assert dead.status_code == 401
    assert dead.headers["www-authenticate"].startswith("Bearer")

    assert (await gateway.post("/password/forgot", json={"email": address})).status_code == 202
    reset_token = await auth.mailbox.link_token(address, count=2)
    reset = await gateway.post(
        "/password/reset", json={"token": reset_token, "new_password": PASSWORD + " again"}
    )
    assert reset.status_code == 204
    relogin = await gateway.post("/login", json={"email": address, "password": PASSWORD + " again"})
    assert relogin.status_code == 200

    jwks = (await gateway.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["kid"]

    admin = await auth.admin()
    users = await gateway.get(
        "/users", params={"email": "route@"}, headers=bearer(admin["access_token"])
    )
    assert [u["email"] for u in users.json()["items"]] == [address]
    promoted = await gateway.patch(
        f"/users/{me.json()['id']}",
        json={"roles": ["customer", "admin"]},
        headers=bearer(admin["access_token"]),
    )
    assert promoted.json()["roles"] == ["admin", "customer"]


async def test_forged_tokens_are_refused(gateway: httpx.AsyncClient, auth: AuthFixture) -> None:
    pair = await auth.verified_user("forger@example.com")
    access = pair["access_token"]
    header, payload, signature = access.split(".")
    claims = jwt.decode(access, options={"verify_signature": False})
    now = int(time.time())

    forgeries = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}.",
        "HS256 with a guessed secret": jwt.encode(
            claims, "s" * 32, algorithm="HS256", headers={"typ": "at+jwt"}
        ),
        "tampered payload": f"{header}.{_b64({**claims, 'roles': ['admin']})}.{signature}",
        "refresh token as access token": pair["refresh_token"],
        "expired": f"{header}.{_b64({**claims, 'exp': now - 60})}.{signature}",
        "wrong audience": f"{header}.{_b64({**claims, 'aud': 'elsewhere'})}.{signature}",
    }
    for name, token in forgeries.items():
        response = await gateway.get("/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"', name
        assert response.headers["content-type"] == "application/problem+json"
    # The genuine token still works: the forgeries changed nothing.
    assert (await gateway.get("/me", headers=bearer(access))).status_code == 200


async def test_roles_and_unknown_fields_through_the_gateway(
    gateway: httpx.AsyncClient, auth: AuthFixture
) -> None:
    pair = await auth.verified_user("customer@example.com")
    assert (await gateway.get("/users", headers=bearer(pair["access_token"]))).status_code == 403
    sneaky = await gateway.post(
        "/register",
        json={"email": "x@example.com", "password": PASSWORD, "full_name": "X", "roles": ["admin"]},
    )
    assert sneaky.status_code == 422
    assert sneaky.json()["errors"][0]["field"] == "roles"
    patched = await gateway.patch(
        "/me", json={"full_name": "Y", "roles": ["admin"]}, headers=bearer(pair["access_token"])
    )
    assert patched.status_code == 422
