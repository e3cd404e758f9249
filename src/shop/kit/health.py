"""Liveness and readiness endpoints.

``/health/live`` says the process answers. ``/health/ready`` runs every
readiness check (database, Redis, upstreams ...) concurrently with a timeout
and is 200 only when all pass; otherwise 503 naming the failing checks. Once
the process has been told to stop (:func:`begin_draining`), it is 503 at once,
so load balancers stop sending it requests while it finishes those in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from shop.kit.errors import problem_response

ReadinessCheck = Callable[[], Awaitable[None]]

log = structlog.get_logger("shop.health")


async def run_checks(checks: Mapping[str, ReadinessCheck], seconds: float) -> dict[str, str]:
    """Each check's outcome, each given ``seconds`` at most: ``"ok"`` or a short reason."""

    async def outcome(check: ReadinessCheck) -> str:
        try:
            await asyncio.wait_for(check(), seconds)
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(outcome(checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


def begin_draining(app: FastAPI) -> None:
    app.state.draining = True
    log.info("draining: readiness fails from now on")


def health_router(timeout: float = 2.0) -> APIRouter:
    """Readiness runs the checks the app's resources registered at start-up."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/ready",
        summary="The service can do its work: every dependency answers",
        responses={503: {"description": "A dependency is not ready"}},
    )
    async def ready(request: Request) -> Response:
        if getattr(request.app.state, "draining", False):
            return problem_response(
                503, detail="The service is shutting down.", checks={"shutdown": "draining"}
            )
        checks: Mapping[str, ReadinessCheck] = request.app.state.readiness_checks
        results = await run_checks(checks, timeout)
        if all(result == "ok" for result in results.values()):
            body: dict[str, Any] = {"status": "ok", "checks": results}
            return Response(orjson.dumps(body), media_type="application/json")
        log.warning("not ready", checks=results)
        return problem_response(503, detail="A dependency is not ready.", checks=results)

    return router
