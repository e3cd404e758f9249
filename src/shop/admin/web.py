"""What every page shares: templates, the signed-in staff member, cookies and CSRF."""

from __future__ import annotations

import hmac
from datetime import datetime
from decimal import Decimal, InvalidOperation
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from shop.admin.api_client import ApiClient
from shop.admin.config import AdminSettings
from shop.admin.sessions import SessionStore, SignInRequiredError, Staff
from shop.kit.clients import client_ip

PREFIX = "/admin"
SESSION_COOKIE = "shop_admin_session"
LOGIN_CSRF_COOKIE = "shop_admin_login"

# What a page says after a redirect (?notice=...): fixed texts, so a link cannot make a
# page say anything else.
NOTICES = {
    "signed-out": "You are signed out.",
    "expired": "Your session has ended. Please sign in again.",
    "created": "Created.",
    "saved": "Saved.",
    "deleted": "Deleted.",
    "archived": "Archived.",
    "stock": "Stock adjusted.",
    "shipped": "Marked as shipped.",
    "delivered": "Marked as delivered.",
    "cancelled": "Cancelled.",
    "paid": "Marked as paid.",
    "refunded": "Refunded.",
    "refund-pending": "Refund recorded: the payment provider has not confirmed it yet;"
    " the shop asks it again until it does.",
    "refund-failed": "The payment provider refused the refund: see the order's history.",
}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


class CsrfError(Exception):
    """A form without the session's CSRF token: not sent by one of our pages."""


def money(amount: int | None, currency: str | None = None) -> str:
    """Minor units as a decimal amount (two places: the currencies the shop sells in)."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{cents:02d}" + (f" {currency}" if currency else "")


def minor_units(text: str) -> int:
    """``"19.99"`` → 1999. Raises ValueError with a message for the field."""
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError("Enter an amount such as 19.99.") from exc
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise ValueError("Enter an amount with at most two decimals, such as 19.99.")
    return int(value * 100)


def when(value: str | None) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["money"] = money
templates.env.filters["when"] = when
templates.env.filters["choices"] = lambda values: [(v, v.replace("_", " ")) for v in values]


def settings_of(request: Request) -> AdminSettings:
    settings: AdminSettings = request.app.state.settings
    return settings


def came_over_https(request: Request) -> bool:
    """The gateway (a trusted proxy) says whether the browser used HTTPS."""
    settings = settings_of(request)
    if settings.admin_secure_cookie != "auto":
        return settings.admin_secure_cookie == "always"
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    try:
        trusted = any(ip_address(peer) in net for net in settings.trusted_proxies)
    except ValueError:
        trusted = False
    proto = request.headers.get("x-forwarded-proto", "")
    return trusted and proto.rsplit(",", 1)[-1].strip().lower() == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=came_over_https(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PREFIX, httponly=True, samesite="strict", secure=came_over_https(request)
    )


def redirect(path: str) -> RedirectResponse:
    """After a POST: the browser GETs the next page (no form sent twice on reload)."""
    return RedirectResponse(PREFIX + path, status_code=303)


def store_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


def api_of(request: Request) -> ApiClient:
    api: ApiClient = request.app.state.api
    return api


async def current_staff(request: Request) -> Staff:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignInRequiredError()
    store = store_of(request)
    session = await store.load(session_id)
    if session is None:
        raise SignInRequiredError("Your session has ended. Please sign in again.")
    address = client_ip(request, settings_of(request).trusted_proxies)
    return Staff(session_id, session, store, api_of(request), address)


CurrentStaff = Annotated[Staff, Depends(current_staff)]


def tokens_match(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


async def checked_form(request: Request, staff: CurrentStaff) -> FormData:
    """The posted form, once its CSRF token is the session's."""
    form = await request.form()
    if not tokens_match(form.get("csrf_token"), staff.csrf_token):
        raise CsrfError()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    staff: Staff | None = None,
    status_code: int = 200,
) -> Response:
    values = {
        "staff": staff,
        "csrf_token": staff.csrf_token if staff else "",
        "prefix": PREFIX,
        "notice": NOTICES.get(request.query_params.get("notice", ""), ""),
        "errors": {},
        "form": {},
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    # Pages hold customers' data and the session's CSRF token: never cached.
    response.headers["Cache-Control"] = "no-store"
    return response
