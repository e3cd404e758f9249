import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from shop.gateway.bodylimits import RouteBodyLimitMiddleware
from shop.gateway.config import GatewaySettings
from shop.gateway.fast_path import FastPath
from shop.gateway.forwarding import PROXY_METHODS, pass_on, route_paths
from shop.gateway.health_checks import CHECK_TIMEOUT, HealthChecker
from shop.gateway.openapi import MergedOpenAPI
from shop.gateway.paths import PathGuardMiddleware
from shop.gateway.proxy import Proxy, has_body
from shop.gateway.ratelimit import rate_limit_resource
from shop.gateway.security import (
    EdgeHeaders,
    SecurityHeadersMiddleware,
    cors_middleware,
    cors_policy,
)
from shop.gateway.server import PUBLIC_KEEP_ALIVE_SECONDS, head_deadline_protocol
from shop.gateway.slow_clients import (
    ClientConcurrencyMiddleware,
    ClientSlots,
    RequestDeadlineMiddleware,
)
from shop.gateway.upstream_client import UpstreamClient
from shop.gateway.upstream_metrics import upstream_metrics
from shop.gateway.upstreams import ROUTES, Upstream
from shop.kit.app import create_service_app
from shop.kit.background import background_resource
from shop.kit.health import ReadinessCheck
from shop.kit.http import CLIENT_KEEPALIVE_SECONDS, create_http_client
from shop.kit.identity import identity_resource
from shop.kit.redis import redis_resource
from shop.kit.resource import Resource
from shop.kit.tracing import tracing_on


def upstream_resource(settings: GatewaySettings, upstreams: list[Upstream]) -> Resource:
    """The proxy's pooled connections to all upstreams, and a plain client for the
    services' API documents."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        upstream_client = UpstreamClient(
            max_connections=settings.upstream_max_connections,
            keepalive_seconds=CLIENT_KEEPALIVE_SECONDS,
            connect=settings.upstream_connect_timeout,
            read=settings.upstream_read_timeout,
        )
        app.state.proxy = Proxy(
            upstream_client,
            max_connections=settings.upstream_max_connections,
            pool_timeout=settings.upstream_connect_timeout,
            trusted_proxies=settings.trusted_proxies,
            retries=upstream_metrics(app, upstreams),
        )
        documents_client = create_http_client(
            timeout=httpx.Timeout(
                settings.upstream_read_timeout, connect=settings.upstream_connect_timeout
            )
        )
        # The dashboard's pages are no part of the API's document.
        app.state.openapi = MergedOpenAPI(
            documents_client, [u for u in upstreams if u.name != "admin"]
        )

        try:
            yield {}
        finally:
            await upstream_client.aclose()
            await documents_client.aclose()

    return resource


def health_check_resource(settings: GatewaySettings, upstreams: list[Upstream]) -> Resource:
    """Checks every instance in the background (see shop.gateway.health_checks); the
    gateway is ready when each service has an instance whose latest check passed. It
    starts serving after the first round of checks."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        checker = HealthChecker(upstreams, settings.upstream_health_interval)
        loop = background_resource("upstream_health_checks", lambda _: checker)
        async with loop(app) as alive:
            # Each check gives up after CHECK_TIMEOUT, so the first round ends by then;
            # the bound is for a loop that died before finishing it.
            with suppress(TimeoutError):
                await asyncio.wait_for(checker.first_round(), timeout=2 * CHECK_TIMEOUT)
            yield {**alive, **checker.readiness_checks()}

    return resource


def forward_to(upstream: Upstream) -> Callable[[Request], Awaitable[Response]]:
    async def forward(request: Request) -> Response:
        body = request.stream() if has_body(request.scope) else None
        return await pass_on(request.scope, upstream, body)

    return forward


class ProxyRoute(Route):
    """A plain Starlette route: FastAPI's request handling (dependency solving, response
    serialization) would only cost time on a request that is passed on as it is.
    Like FastAPI's routes, it records itself in the scope, so the metrics name the
    route by its template (bounded labels)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def proxy_routes(upstreams: dict[str, Upstream]) -> list[ProxyRoute]:
    routes = []
    for prefix, service in ROUTES.items():
        forward = forward_to(upstreams[service])
        for path in route_paths(prefix):
            routes.append(ProxyRoute(path, forward, methods=PROXY_METHODS, include_in_schema=False))
    return routes


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
    upstreams = {
        name: Upstream(
            name,
            urls,
            eject_seconds=settings.upstream_eject_seconds,
            unhealthy_after=settings.upstream_unhealthy_after,
            eject_after_errors=settings.upstream_eject_after_errors,
        )
        for name, urls in settings.upstream_urls().items()
    }
    # One count of requests in progress per client, whichever way a request goes.
    slots = ClientSlots(settings.max_requests_per_client, settings.trusted_proxies)
    health_checks = (
        [health_check_resource(settings, list(upstreams.values()))]
        if settings.upstream_health_interval
        else []
    )
    app = create_service_app(
        settings,
        title="Shop API",
        description="The public API of the shop, served by the gateway on behalf of every service.",
        routers=[docs_router()],
        resources=[
            redis_resource(settings.redis_url),
            identity_resource(settings),
            rate_limit_resource(
                default=settings.rate_limit_default,
                auth=settings.rate_limit_auth,
                trusted_proxies=settings.trusted_proxies,
                sync_seconds=settings.rate_limit_sync_seconds,
            ),
            upstream_resource(settings, list(upstreams.values())),
            *health_checks,
        ],
        openapi_url=None,
        middleware=[
            Middleware(
                SecurityHeadersMiddleware,
                trusted_proxies=settings.trusted_proxies,
                hsts_max_age=settings.hsts_max_age,
            ),
            *cors_middleware(settings.cors_origins, settings.cors_max_age),
            # Before routing: no path may be read one way here and another upstream.
            Middleware(PathGuardMiddleware, prefixes=list(ROUTES)),
            # Slow clients cannot pin the gateway (nor its pool of upstream connections).
            Middleware(ClientConcurrencyMiddleware, slots=slots),
            Middleware(
                RequestDeadlineMiddleware,
                seconds=settings.request_receive_timeout,
                upload_seconds=settings.upload_receive_timeout,
            ),
            Middleware(
                RouteBodyLimitMiddleware,
                json_max_bytes=settings.max_json_body_bytes,
                upload_max_bytes=settings.max_body_bytes,
            ),
        ],
    )
    # After every other route, as the routers were (no path of theirs is under a prefix).
    app.router.routes.extend(proxy_routes(upstreams))
    app.state.upstreams = upstreams
    if not tracing_on():
        # Outermost: a request it answers meets none of the layers above.
        app.add_middleware(
            FastPath,
            routes={prefix: upstreams[service] for prefix, service in ROUTES.items()},
            edge=EdgeHeaders(settings.trusted_proxies, settings.hsts_max_age),
            cors=cors_policy(settings.cors_origins, settings.cors_max_age),
            slots=slots,
            metrics=app.state.metrics,
        )
    # For `shop serve gateway` (shop.cli.serve): the request head has a deadline too.
    # Its clients are the public (or an ingress): idle connections are not kept long.
    app.state.server_options = {
        "http": head_deadline_protocol(settings.request_head_timeout),
        "timeout_keep_alive": PUBLIC_KEEP_ALIVE_SECONDS,
    }
    return app
