"""The dashboard's process: pages under /admin, its stylesheet, health and metrics."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from shop.admin import (
    catalog,
    customers,
    orders,
    overview,
    pricing,
    product_images,
    product_options,
    products,
    signin,
)
from shop.admin.api_client import ApiError, api_resource
from shop.admin.config import AdminSettings
from shop.admin.sessions import SessionStore, SignInRequiredError
from shop.admin.signin import LoginThrottle
from shop.admin.web import PREFIX, SESSION_COOKIE, CsrfError, clear_cookie, redirect, render
from shop.kit.app import create_service_app
from shop.kit.health import ReadinessCheck
from shop.kit.redis import redis_resource
from shop.kit.resource import Resource

# Starlette's type of an exception handler: a function or a coroutine function.
ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def sessions_resource(settings: AdminSettings) -> Resource:
    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        app.state.sessions = SessionStore(app.state.redis, settings.admin_session_idle_seconds)
        app.state.login_throttle = LoginThrottle(
            app.state.redis,
            settings.admin_login_failure_limit,
            settings.admin_login_failure_limit_ip,
        )
        yield {}

    return resource


async def _sign_in_again(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequiredError)
    response = redirect("/login?notice=expired" if exc.notice else "/login")
    if SESSION_COOKIE in request.cookies:
        clear_cookie(request, response, SESSION_COOKIE)
    return response


async def _forged_form(request: Request, _: Exception) -> Response:
    return render(
        request,
        "error.html",
        {
            "title": "Form refused",
            "message": "This form was not sent from the dashboard's page (its security "
            "token is missing or out of date). Go back, reload the page and try again.",
        },
        status_code=403,
    )


async def _api_refused(request: Request, exc: Exception) -> Response:
    """An API error no page handles itself (a product that does not exist ...)."""
    assert isinstance(exc, ApiError)
    status = exc.status if exc.status in (400, 403, 404, 409, 422, 429) else 503
    return render(
        request, "error.html", {"title": exc.title, "message": exc.message()}, status_code=status
    )


NO_SUCH_PAGE = {
    "title": "No such page",
    "message": "The dashboard has no page at this address. It may have been mistyped, "
    "or what it showed may no longer exist.",
}


def _as_pages(platform_handler: ExceptionHandler) -> ExceptionHandler:
    """Refusals of the framework's under /admin, as pages (a person is at the browser,
    not a client that reads problems); elsewhere (health, metrics, any other path) the
    platform's problem documents, as every service answers."""

    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/"):
            return await _page_refused(request, exc)
        answer = platform_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    return handler


async def _page_refused(request: Request, exc: Exception) -> Response:
    """An address no page answers, or whose id is not an id (a hand-edited URL), is
    "no such page"; any other refusal is said in its own words."""
    if isinstance(exc, RequestValidationError):
        if all(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            return render(request, "error.html", NO_SUCH_PAGE, status_code=404)
        context = {"title": "Request refused", "message": "The request was not understood."}
        return render(request, "error.html", context, status_code=400)
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return render(request, "error.html", NO_SUCH_PAGE, status_code=404)
    context = {"title": "Request refused", "message": str(exc.detail)}
    response = render(request, "error.html", context, status_code=exc.status_code)
    response.headers.update(exc.headers or {})
    return response


def create_app(settings: AdminSettings | None = None) -> FastAPI:
    settings = settings or AdminSettings()
    app = create_service_app(
        settings,
        title="Shop admin",
        description="The dashboard of the shop's staff: HTML pages under /admin.",
        routers=[
            signin.router,
            overview.router,
            products.router,
            product_images.router,
            product_options.router,
            orders.router,
            catalog.router,
            customers.router,
            pricing.router,
        ],
        resources=[
            redis_resource(settings.redis_url),
            sessions_resource(settings),
            api_resource(settings),
        ],
    )
    app.add_exception_handler(SignInRequiredError, _sign_in_again)
    app.add_exception_handler(CsrfError, _forged_form)
    app.add_exception_handler(ApiError, _api_refused)
    for framework_error in (StarletteHTTPException, RequestValidationError):
        platform = app.exception_handlers[framework_error]
        app.add_exception_handler(framework_error, _as_pages(platform))
    app.mount(
        PREFIX + "/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="static",
    )
    return app
