"""Signing in and out.

Sign-in asks the public login API, then the user's roles (``/auth/me``): anyone but an
admin is refused with a clear message, and the API session just opened for them is
closed again. Failed sign-ins are counted per client address and per email in Redis
(the `limits` library, moving windows) before the API is asked, on top of the API's
own throttle, which sees every sign-in as coming from the dashboard's address.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from starlette.responses import Response

from shop.admin.api_client import ApiError
from shop.admin.sessions import SignInRequiredError, session_from_tokens
from shop.admin.web import (
    LOGIN_CSRF_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    CheckedForm,
    CurrentStaff,
    api_of,
    clear_cookie,
    redirect,
    render,
    set_cookie,
    settings_of,
    store_of,
    tokens_match,
)
from shop.kit.clients import client_ip, client_key

router = APIRouter(prefix=PREFIX, include_in_schema=False)

NOT_ADMIN = (
    "This account is not an administrator's. The dashboard is for the shop's staff only; "
    "ask an administrator to give your account the admin role."
)
WRONG_CREDENTIALS = "The email or the password is wrong."


class LoginThrottle:
    def __init__(self, redis: Redis, per_email: str, per_ip: str) -> None:
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix="admin-login",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self.limiter = MovingWindowRateLimiter(storage)
        self.limits = [("email", parse(per_email)), ("ip", parse(per_ip))]

    @staticmethod
    def _keys(email: str, ip: str) -> dict[str, str]:
        return {
            "email": hashlib.sha256(email.strip().lower().encode()).hexdigest(),
            "ip": client_key(ip),
        }

    async def blocked_for(self, email: str, ip: str) -> int:
        """Seconds until another attempt is allowed; 0 when one is."""
        keys = self._keys(email, ip)
        for kind, limit in self.limits:
            if not await self.limiter.test(limit, kind, keys[kind]):
                stats = await self.limiter.get_window_stats(limit, kind, keys[kind])
                return max(1, int(stats.reset_time - time.time()) + 1)
        return 0

    async def failed(self, email: str, ip: str) -> None:
        keys = self._keys(email, ip)
        for kind, limit in self.limits:
            await self.limiter.hit(limit, kind, keys[kind])


def _login_page(
    request: Request, token: str, *, error: str = "", email: str = "", status_code: int = 200
) -> Response:
    response = render(
        request,
        "login.html",
        {"login_token": token, "error": error, "form": {"email": email}},
        status_code=status_code,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    return _login_page(request, token)


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    fresh = secrets.token_urlsafe(32)
    if not expected or not tokens_match(csrf_token, expected):
        return _login_page(
            request,
            fresh,
            error="The form had expired. Please sign in again.",
            email=email,
            status_code=403,
        )
    if not email or not password:
        return _login_page(
            request, expected, error="Enter your email and password.", email=email, status_code=422
        )
    throttle: LoginThrottle = request.app.state.login_throttle
    ip = client_ip(request, settings_of(request).trusted_proxies)
    wait = await throttle.blocked_for(email, ip)
    if wait:
        return _throttled(request, expected, email, wait)
    api = api_of(request)
    try:
        pair: dict[str, Any] = (
            await api.call(
                "POST", "/auth/login", client=ip, json={"email": email, "password": password}
            )
        ).json()
    except ApiError as exc:
        if exc.status == 429:
            return _throttled(request, expected, email, int(exc.retry_after or 60))
        if exc.status in (401, 422):
            await throttle.failed(email, ip)
            return _login_page(
                request, expected, error=WRONG_CREDENTIALS, email=email, status_code=401
            )
        return _login_page(request, expected, error=exc.message(), email=email, status_code=503)
    token = pair["access_token"]
    user: dict[str, Any] = (await api.call("GET", "/auth/me", token=token, client=ip)).json()
    if "admin" not in user.get("roles", []):
        await api.call(
            "POST",
            "/auth/logout",
            token=token,
            client=ip,
            json={"refresh_token": pair["refresh_token"]},
        )
        return _login_page(request, fresh, error=NOT_ADMIN, email=email, status_code=403)
    store = store_of(request)
    session_id = await store.create(session_from_tokens(pair, user))
    response = redirect("/")
    set_cookie(
        request,
        response,
        SESSION_COOKIE,
        session_id,
        max_age=settings_of(request).admin_session_idle_seconds,
    )
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


def _throttled(request: Request, token: str, email: str, wait: int) -> Response:
    minutes = max(1, round(wait / 60))
    response = _login_page(
        request,
        token,
        error=f"Too many failed sign-ins. Try again in about {minutes} minute(s).",
        email=email,
        status_code=429,
    )
    response.headers["Retry-After"] = str(wait)
    return response


@router.post("/logout")
async def logout(request: Request, staff: CurrentStaff, _: CheckedForm) -> Response:
    # Already ended on the API's side: the dashboard's session ends all the same.
    with suppress(ApiError, SignInRequiredError):
        await staff.send("POST", "/auth/logout", {"refresh_token": staff.session.refresh_token})
    await store_of(request).delete(staff.session_id)
    response = redirect("/login?notice=signed-out")
    clear_cookie(request, response, SESSION_COOKIE)
    return response
