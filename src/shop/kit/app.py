"""The application factory every service uses.

It wires what all services share, so a service's own ``app.py`` only names
its routers and the resources (database, Redis, HTTP clients) it opens:
structured logging, problem responses, request IDs, body limits, metrics,
tracing, health endpoints and OpenAPI docs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware

import shop
from shop.kit.config import ServiceSettings
from shop.kit.errors import install_problem_handlers
from shop.kit.health import ReadinessCheck, health_router
from shop.kit.logging import configure_logging
from shop.kit.metrics import HttpMetrics, MetricsMiddleware
from shop.kit.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from shop.kit.resource import Resource
from shop.kit.tracing import configure_tracing, instrument_app

log = structlog.get_logger("shop.app")


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str = "",
    routers: Iterable[APIRouter] = (),
    resources: Iterable[Resource] = (),
    openapi_url: str | None = "/openapi.json",
    middleware: Sequence[Middleware] = (),
) -> FastAPI:
    """``middleware``, outermost first, runs inside the request context and metrics
    (its answers are logged, counted and carry the request ID) and outside the body limit."""
    configure_logging(
        settings.service_name,
        settings.log_format,
        settings.log_level,
        flush_seconds=settings.log_flush_seconds,
    )
    tracer_provider = configure_tracing(settings.service_name)
    opened = list(resources)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            checks: dict[str, ReadinessCheck] = {}
            for resource in opened:
                checks.update(await stack.enter_async_context(resource(app)))
            app.state.readiness_checks = checks
            log.info("service started", host=settings.bind_host, port=settings.port)
            yield
            log.info("service stopping")

    app = FastAPI(
        title=title,
        description=description,
        version=shop.__version__,
        lifespan=lifespan,
        openapi_url=openapi_url,
    )
    app.state.settings = settings
    app.state.readiness_checks = {}
    app.state.draining = False
    install_problem_handlers(app)

    metrics = HttpMetrics(settings.service_name)
    app.state.metrics = metrics
    app.add_api_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)

    # Added innermost first: the request context wraps everything else (and the
    # server span of tracing, when on, wraps the request context).
    instrument_app(app, tracer_provider)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    for extra in reversed(middleware):
        app.add_middleware(extra.cls, *extra.args, **extra.kwargs)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestContextMiddleware)
    return app
