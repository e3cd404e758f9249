"""Signing in and out of the dashboard, its session and its CSRF tokens, against the
real system (`shop up`) through the gateway."""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from tests.admin.support import (
    Api,
    alert_text,
    csrf_of,
    dashboard,
    new_customer,
    parse,
    post_form,
    sign_in,
    signed_in,
    status_text,
)
from tests.e2e.system import ADMIN_EMAIL, RunningSystem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("admin")]


def stored_session(system: RunningSystem, client: httpx.Client) -> tuple[redis.Redis, str]:
    """The Redis key of the client's dashboard session (the cookie's SHA-256)."""
    env = dict(
        line.split("=", 1)
        for line in (system.data_dir / "runtime.env").read_text().splitlines()
        if "=" in line
    )
    cookie = client.cookies.get("shop_admin_session", path="/admin")
    assert cookie
    key = "admin:session:" + hashlib.sha256(cookie.encode()).hexdigest()
    return redis.Redis.from_url(env["REDIS_URL"]), key


def test_pages_ask_for_a_sign_in_first(system: RunningSystem) -> None:
    with dashboard(system) as client:
        for path in ("/admin/", "/admin/products", "/admin/orders", "/admin/customers"):
            answer = client.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/admin/login"
        page = parse(client.get("/admin/login"))
        assert page.find("h1").get_text() == "Sign in"  # type: ignore[union-attr]


def test_the_session_cookie_is_httponly_strict_and_opaque(system: RunningSystem) -> None:
    with dashboard(system) as client:
        answer = sign_in(client)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("shop_admin_session=")
        )
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "max-age", "samesite"} <= attributes
        assert "samesite=strict" in cookie.lower()
        assert "secure" not in attributes  # plain HTTP here; see the next test
        value = cookie.split(";")[0].split("=", 1)[1]
        assert "." not in value
        assert len(value) >= 40
        overview = parse(client.get("/admin/"))
        assert overview.find("h1").get_text() == "Overview"  # type: ignore[union-attr]
        assert ADMIN_EMAIL in overview.get_text()


def test_the_cookie_is_secure_when_the_gateway_says_https(system: RunningSystem) -> None:
    # The dashboard's own port, as the gateway calls it (a trusted proxy on loopback).
    with httpx.Client(base_url=system.url("admin"), timeout=60) as client:
        https = {"x-forwarded-proto": "https"}
        page = client.get("/admin/login", headers=https)
        assert "secure" in page.headers["set-cookie"].lower()
        # A Secure cookie is sent only over HTTPS, which the gateway's TLS would be:
        # here it is sent by hand.
        login_cookie = page.headers["set-cookie"].split(";")[0]
        signed = client.post(
            "/admin/login",
            headers={**https, "cookie": login_cookie},
            data={
                "email": ADMIN_EMAIL,
                "password": "an admin's long and unusual passphrase",
                "csrf_token": csrf_of(parse(page)),
            },
        )
        assert signed.status_code == 303
        session = next(
            c for c in signed.headers.get_list("set-cookie") if c.startswith("shop_admin_session=")
        )
        assert "; secure" in session.lower()


def test_wrong_password_and_forged_login_are_refused_in_words(system: RunningSystem) -> None:
    with dashboard(system) as client:
        wrong = sign_in(client, ADMIN_EMAIL, "not the password at all")
        assert wrong.status_code == 401
        assert "email or the password is wrong" in alert_text(parse(wrong))
        assert parse(wrong).find("input", attrs={"name": "email"})["value"] == ADMIN_EMAIL  # type: ignore[index]
        assert "shop_admin_session" not in client.cookies
    with dashboard(system) as client:
        client.get("/admin/login")
        forged = client.post(
            "/admin/login",
            data={"email": ADMIN_EMAIL, "password": "x", "csrf_token": "made-up"},
        )
        assert forged.status_code == 403
        assert "expired" in alert_text(parse(forged))


def test_a_customer_is_refused_with_a_clear_message(system: RunningSystem) -> None:
    address, _ = new_customer(system)
    with dashboard(system) as client:
        refused = sign_in(client, address, "a customer's long and unusual passphrase")
        assert refused.status_code == 403
        assert "not an administrator" in alert_text(parse(refused))
        assert "shop_admin_session" not in client.cookies
        assert client.get("/admin/").status_code == 303


def test_sign_in_is_throttled_after_repeated_failures(system: RunningSystem) -> None:
    target = "someone-guessed@example.com"
    with dashboard(system) as client:
        for _ in range(5):
            assert sign_in(client, target, "guess").status_code == 401
        throttled = sign_in(client, target, "guess")
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in alert_text(parse(throttled))
        # Another account from the same address is not locked out by these.
        assert sign_in(client).status_code == 303


def test_a_form_without_the_sessions_csrf_token_is_refused(system: RunningSystem) -> None:
    api = Api.as_admin(system)
    with signed_in(system) as client:
        for token in ({}, {"csrf_token": "not-the-token"}):
            answer = client.post("/admin/categories", data={"name": "Forged", **token})
            assert answer.status_code == 403
            assert "security token" in alert_text(parse(answer))
        assert "Forged" not in [c["name"] for c in api.get("/categories")["items"]]
        # The same form with the page's token goes through.
        made = post_form(client, "/admin/categories", "/admin/categories", {"name": "Genuine"})
        assert made.status_code == 303
        assert "Genuine" in [c["name"] for c in api.get("/categories")["items"]]


def test_sign_out_ends_the_api_session_too(system: RunningSystem) -> None:
    with signed_in(system) as client:
        store, key = stored_session(system, client)
        access = json.loads(store.get(key))["access_token"]  # type: ignore[arg-type]
        bearer = {"authorization": f"Bearer {access}"}
        me = httpx.get(system.url() + "/api/v1/auth/me", headers=bearer)
        assert me.status_code == 200
        out = post_form(client, "/admin/", "/admin/logout", {})
        assert out.status_code == 303
        assert out.headers["location"] == "/admin/login?notice=signed-out"
        assert "signed out" in status_text(parse(client.get(out.headers["location"])))
        assert store.get(key) is None
        assert httpx.get(system.url() + "/api/v1/auth/me", headers=bearer).status_code == 401
        assert client.get("/admin/").status_code == 303


def test_an_expiring_token_is_refreshed_once_for_pages_loading_at_once(
    system: RunningSystem,
) -> None:
    with signed_in(system) as client:
        store, key = stored_session(system, client)
        before = json.loads(store.get(key))  # type: ignore[arg-type]
        store.set(key, json.dumps({**before, "access_expires_at": time.time() - 1}), keepttl=True)
        paths = ["/admin/products", "/admin/orders", "/admin/categories", "/admin/"] * 2
        with ThreadPoolExecutor(len(paths)) as pool:
            answers = list(pool.map(client.get, paths))
        assert [a.status_code for a in answers] == [200] * len(paths)
        after = json.loads(store.get(key))  # type: ignore[arg-type]
        assert after["access_token"] != before["access_token"]
        assert after["refresh_token"] != before["refresh_token"]
        # The rotated session still works (a second use of the old refresh token would
        # have revoked it), and the old refresh token is spent.
        assert client.get("/admin/orders").status_code == 200
        reused = httpx.post(
            system.url() + "/api/v1/auth/refresh", json={"refresh_token": before["refresh_token"]}
        )
        assert reused.status_code == 401
