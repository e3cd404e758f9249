from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

from shop.gateway.config import GatewaySettings
from shop.gateway.openapi import MergedOpenAPI
from shop.gateway.proxy import Proxy
from shop.gateway.upstreams import ROUTES, Upstream
from shop.kit.app import Resource, create_service_app
from shop.kit.health import ReadinessCheck
from shop.kit.http import create_http_client
from shop.kit.identity import current_identity, identity_resource
from shop.kit.redis import redis_resource

# Routes anyone may call. A stale token a client attaches out of habit must not stop
# a login or a refresh, so the gateway does not judge tokens sent to these.
OPEN_PATHS = frozenset(
    "/api/v1/auth/" + path
    for path in (
        "register",
        "login",
        "refresh",
        "verify-email",
        "resend-verification",
        "password/forgot",
        "password/reset",
        ".well-known/jwks.json",
    )
)

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def upstream_resource(settings: GatewaySettings, upstreams: list[Upstream]) -> Resource:
    """One pooled client for all upstreams; ready when each service has a ready instance."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        client = create_http_client(
            timeout=httpx.Timeout(
                connect=settings.upstream_connect_timeout,
                read=settings.upstream_read_timeout,
                write=settings.upstream_read_timeout,
                pool=settings.upstream_connect_timeout,
            ),
            limits=httpx.Limits(
                max_connections=settings.upstream_max_connections,
                max_keepalive_connections=settings.upstream_max_connections,
            ),
        )
        app.state.proxy = Proxy(client, settings.trusted_proxies)
        app.state.openapi = MergedOpenAPI(client, upstreams)

        def ready_instance(upstream: Upstream) -> ReadinessCheck:
            async def check() -> None:
                for base_url in upstream.urls:
                    try:
                        response = await client.get(base_url + "/health/ready", timeout=1.5)
                    except httpx.HTTPError:
                        continue
                    if response.status_code == 200:
                        return
                raise RuntimeError(f"no ready instance of {upstream.name}")

            return check

        try:
            yield {f"upstream:{u.name}": ready_instance(u) for u in upstreams}
        finally:
            await client.aclose()

    return resource


def forward_to(upstream: Upstream) -> Callable[[Request], Awaitable[Response]]:
    async def forward(request: Request) -> Response:
        if "authorization" in request.headers and request.url.path not in OPEN_PATHS:
            # A bad token is refused here, before it costs a service anything. The
            # service verifies it again: it trusts nothing a client could forge.
            await current_identity(request)
        proxy: Proxy = request.app.state.proxy
        return await proxy.forward(request, upstream)

    return forward


def proxy_router(upstreams: dict[str, Upstream]) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for prefix, service in ROUTES.items():
        forward = forward_to(upstreams[service])
        router.add_api_route(prefix, forward, methods=PROXY_METHODS)
        router.add_api_route(prefix + "/{path:path}", forward, methods=PROXY_METHODS)
    return router


def docs_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi(request: Request) -> dict[str, Any]:
        merged: MergedOpenAPI = request.app.state.openapi
        document: dict[str, Any] = await merged.document(request.app.openapi())
        return document

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Shop API")

    return router


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    upstreams = {name: Upstream(name, urls) for name, urls in settings.upstream_urls().items()}
    return create_service_app(
        settings,
        title="Shop API",
        description="The public API of the shop, served by the gateway on behalf of every service.",
        routers=[docs_router(), proxy_router(upstreams)],
        resources=[
            redis_resource(settings.redis_url),
            identity_resource(settings),
            upstream_resource(settings, list(upstreams.values())),
        ],
        openapi_url=None,
    )
