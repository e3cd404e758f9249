"""Requests for a service that carry no body, passed on in one pass.

Most of what the public sends is reads: a product, a listing, a search, a picture.
For each, the gateway's framework stack cost more than the proxying itself (a
dozen middleware layers, each wrapping ``send``, then FastAPI's routing and
exception layers; bench/README.md, "The gateway hop"). :class:`FastPath` sits
outside all of them and does, for a request under a proxied prefix that has no
body, what they do, once each:

- the request ID and the log context, the access log line and the metrics
  (:mod:`shop.kit.middleware`, :mod:`shop.kit.metrics`); the trace ID of a
  ``traceparent`` in the log context;
- the path guard (:mod:`shop.gateway.paths`) and the cap on requests in progress
  per client (:class:`~shop.gateway.slow_clients.ClientSlots`, shared with the
  middleware);
- the token check, the rate limits and the proxy (:func:`~shop.gateway.forwarding.pass_on`);
- the security headers and the rate limit's headers, set on the answer's raw
  headers at once; CORS by the CORS middleware's own code (when origins are set);
- a problem for any error, as the framework's handlers would answer it.

Every other request takes the framework's way, unchanged: those with a body (the
receive deadline and body limits stream it), ``OPTIONS`` (CORS preflights), the
gateway's own routes, and all of them when tracing is on (the server span is the
instrumentation's).
"""

from __future__ import annotations

import functools
import time

import structlog
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.gateway.forwarding import PROXY_METHODS, pass_on, route_paths
from shop.gateway.paths import PROBLEM_TYPE, ambiguity
from shop.gateway.proxy import has_body
from shop.gateway.raw_headers import replaced
from shop.gateway.security import EdgeHeaders
from shop.gateway.slow_clients import ClientSlots
from shop.gateway.upstreams import Upstream
from shop.kit.errors import ShopError, problem_response
from shop.kit.metrics import HttpMetrics
from shop.kit.middleware import begin_request, end_request, unhandled_response
from shop.kit.tracing import incoming_trace_id

__all__ = ["FastPath"]

# OPTIONS may be a CORS preflight, which the CORS middleware answers.
METHODS = frozenset(PROXY_METHODS) - {"OPTIONS"}


class FastPath:
    """The gateway's outermost layer: requests under ``routes``' prefixes (prefix →
    upstream) without a body are answered here, every other goes on to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: dict[str, Upstream],
        edge: EdgeHeaders,
        cors: CORSMiddleware | None,
        slots: ClientSlots,
        metrics: HttpMetrics,
    ) -> None:
        self.app = app
        # Longest first, as the path guard wants them. Each with its route templates,
        # those of the framework's routes (forwarding.route_paths), for the metrics.
        self.prefixes = sorted(routes, key=len, reverse=True)
        self.routes = [(routes[prefix], *route_paths(prefix)) for prefix in self.prefixes]
        self.edge = edge
        self.cors = cors
        self.slots = slots
        self.metrics = metrics

    def route(self, path: str) -> tuple[Upstream, str] | None:
        """The upstream and the route template of a proxied path; None for any other."""
        for upstream, prefix, below in self.routes:
            if path.startswith(prefix):
                if len(path) == len(prefix):
                    return upstream, prefix
                if path[len(prefix)] == "/":
                    return upstream, below
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.route(scope["path"])
            if scope["type"] == "http" and scope["method"] in METHODS and not has_body(scope)
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        upstream, template = route
        request_id = begin_request(scope)
        if trace_id := incoming_trace_id(scope):
            structlog.contextvars.bind_contextvars(trace_id=trace_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        edge = [*self.edge.for_request(scope), (b"x-request-id", request_id.encode("latin-1"))]
        send_on = send
        if self.cors is not None:  # (also without an Origin: it adds "Vary: Origin")
            request_headers = Headers(scope=scope)
            send_on = functools.partial(self.cors.send, send=send, request_headers=request_headers)

        async def send_with_edge(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = replaced(message.get("headers", ()), edge)
            await send_on(message)

        client: str | None = None  # holding one of its slots
        try:
            if reason := ambiguity(scope, self.prefixes):
                response = problem_response(
                    400, title="Ambiguous path", detail=reason, type_=PROBLEM_TYPE
                )
            elif self.slots.take(candidate := self.slots.client_of(scope)):
                client = candidate
                response = await self._passed_on(scope, upstream)
            else:
                response = self.slots.refusal()
            await response(scope, receive, send_with_edge)
        except Exception as exc:
            response = unhandled_response(exc, scope)
            if response_started:
                raise  # Nothing sane can be sent any more; the server closes the connection.
            await response(scope, receive, send_with_edge)
        finally:
            if client is not None:
                self.slots.give_back(client)
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - started)
            end_request(scope, status, started)

    @staticmethod
    async def _passed_on(scope: Scope, upstream: Upstream) -> Response:
        try:
            return await pass_on(scope, upstream, None)
        except ShopError as exc:
            return exc.to_response()
