"""Pure ASGI middleware every service runs: request context and body limits.

:class:`RequestContextMiddleware` sits outermost. It gives every request an
ID (the client's ``X-Request-ID`` when it is sane, a new one otherwise), binds
it to the log context, echoes it on the response, writes the access log line (at
debug for the health probes), and turns any unhandled exception into a 500
problem response that reveals nothing of the internals; or into a 503 with
``Retry-After`` when the exception
says that the database or Redis cannot be reached (a restart, a failover): the
client may try again, and nothing was half done that the services don't finish.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.kit.errors import PROBLEM_TYPE_BASE, PayloadTooLargeError, problem_response
from shop.kit.outages import unreachable as backing_server_unreachable

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

log = structlog.get_logger("shop.access")

# Probes polled every few seconds (the gateway's health checks, the supervisor, a
# kubelet): their access lines would bury every other. Logged at debug (LOG_LEVEL=DEBUG
# shows them); the metrics still count them.
PROBE_PATHS = frozenset({"/health/live", "/health/ready"})


def incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


def begin_request(scope: Scope) -> str:
    """The request's ID, in the scope's state and the log context (cleared first)."""
    request_id = incoming_request_id(scope)
    scope.setdefault("state", {})["request_id"] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


def unhandled_response(exc: Exception, scope: Scope) -> Response:
    """Logs an exception nothing handled and answers it: 503 with ``Retry-After`` when a
    backing server (the database, Redis) cannot be reached, else a 500 that reveals
    nothing of the internals."""
    unreachable = backing_server_unreachable(exc)
    if unreachable:
        log.warning(
            "a backing server is unreachable",
            method=scope["method"],
            path=scope["path"],
            error=f"{type(exc).__name__}: {exc}"[:500],
        )
        return problem_response(
            503,
            title="Service unavailable",
            detail="A backing service is unavailable right now. Try again shortly.",
            type_=PROBLEM_TYPE_BASE + "backing-service-unavailable",
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled error", method=scope["method"], path=scope["path"])
    return problem_response(500, detail="An unexpected error occurred.")


def end_request(scope: Scope, status: int, started: float) -> None:
    """Writes the access log line (probes at debug) and clears the log context."""
    (log.debug if scope["path"] in PROBE_PATHS else log.info)(
        "request",
        method=scope["method"],
        path=scope["path"],
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    structlog.contextvars.clear_contextvars()


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = begin_request(scope)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            response = unhandled_response(exc, scope)
            if response_started:
                raise  # Nothing sane can be sent any more; the server closes the connection.
            await response(scope, receive, send_with_id)
        finally:
            end_request(scope, status, started)


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Made once: the answer is the same for every request.
        self.too_large = PayloadTooLargeError(f"The request body exceeds {max_bytes} bytes.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = self.too_large
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await too_large.to_response()(scope, receive, send)
                return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body parsing (anything else
                    # becomes a 400), and the problem handlers render it.
                    raise HTTPException(413, too_large.detail)
            return message

        await self.app(scope, counting_receive, send)
