"""OpenTelemetry tracing, exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Off (the default), nothing is installed: no SDK provider, no instrumentation, so
tracing costs nothing; a client's W3C ``traceparent`` still reaches the services,
as the gateway forwards it with the other end-to-end headers, and its trace ID is
logged (:class:`TraceparentLogContext`).

On, one SDK tracer provider serves the whole process: OpenTelemetry's global
provider can be set only once, and a process runs one service. Spans cover the
request (FastAPI), the SQL statements (SQLAlchemy), Redis commands and outgoing
HTTP calls (httpx, which also injects ``traceparent`` so the callee continues the
trace). Traces start at requests only (:class:`RequestRootSampler`). The standard
``OTEL_*`` variables configure the rest (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*`` ...).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence

import httpx
import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send

# Not traced: probes and scrapes would drown the requests that matter.
UNTRACED_URLS = "/health/,/metrics"

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")

# The provider this process installed, if any. Process-wide because OpenTelemetry's
# global tracer provider is: it can be set once, and instrumentations patch libraries.
_provider: TracerProvider | None = None


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """An OTLP endpoint is configured and the SDK and trace export are not turned off."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    exporter = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    return bool(endpoint and endpoint.strip()) and not disabled and exporter != "none"


class RequestRootSampler(Sampler):
    """Starts a trace only at a request's server span (a ``ratio`` of them), so that
    background loops (outbox polls, sweeps, upstream health checks) do not send a
    one-span trace every second. Under :class:`ParentBased`, a caller's sampled
    ``traceparent`` is followed whatever this says."""

    def __init__(self, ratio: float = 1.0) -> None:
        self.ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind != SpanKind.SERVER:
            return SamplingResult(Decision.DROP)
        return self.ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RequestRootSampler{{{self.ratio.rate}}}"


def sampling_ratio(environ: Mapping[str, str] = os.environ) -> float:
    """``OTEL_TRACES_SAMPLER_ARG``: the share of requests that start a trace (default 1)."""
    try:
        return min(1.0, max(0.0, float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))))
    except ValueError:
        return 1.0


def _resource(service_name: str) -> Resource:
    """``OTEL_SERVICE_NAME`` (or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) wins."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return Resource.create({SERVICE_NAME: service_name})
    return detected


def configure_tracing(service_name: str) -> TracerProvider | None:
    """The process's tracer provider, installed on the first call when tracing is
    requested; None when it is off. Later calls return the same provider."""
    global _provider
    if _provider is None and tracing_requested():
        # Imported here: with tracing off, the exporter and instrumentations stay unloaded.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(  # flushed at exit
            resource=_resource(service_name),
            sampler=ParentBased(root=RequestRootSampler(sampling_ratio())),
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        # A service with a database has loaded SQLAlchemy by now (its app module imports
        # its repositories); the gateway has not, and its instrumentation would load it.
        if "sqlalchemy" in sys.modules:
            _instrument_sqlalchemy(provider)
        _provider = provider
    return _provider


def tracing_on() -> bool:
    """Whether this process traces (:func:`configure_tracing` has installed a provider)."""
    return _provider is not None


def _instrument_sqlalchemy(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Wraps create_async_engine, so every engine made afterwards is traced. It says
    # SQLAlchemy < 2.1 but works with 2.1 (engine events); the tests prove it.
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)


def instrument_app(app: FastAPI, provider: TracerProvider | None) -> None:
    """A server span per request, continuing the caller's ``traceparent``."""
    if provider is None:
        app.add_middleware(TraceparentLogContext)
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=UNTRACED_URLS,
        exclude_spans=["receive", "send"],
    )


def instrument_redis(client: Redis) -> None:
    if _provider is not None:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor.instrument_client(client, tracer_provider=_provider)


def instrument_http_client(client: httpx.AsyncClient) -> None:
    """Client spans, and ``traceparent`` on every outgoing request."""
    if _provider is not None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_provider)


class _NoSpan:
    """:func:`client_span` with tracing off: headers go as they are (a client's
    ``traceparent`` among them)."""

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def carry(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        return headers

    def answered(self, status: int) -> None:
        return None


_NO_SPAN = _NoSpan()
_PROPAGATED = frozenset({b"traceparent", b"tracestate"})


class _ClientSpan(_NoSpan):
    def __init__(self, method: str, url: str) -> None:
        assert _provider is not None
        tracer = _provider.get_tracer("shop.kit.tracing")
        self._context = tracer.start_as_current_span(
            method,
            kind=SpanKind.CLIENT,
            attributes={"http.method": method, "http.url": url},
        )

    def __enter__(self) -> _ClientSpan:
        self._span = self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)  # type: ignore[arg-type]

    def carry(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        from opentelemetry.propagate import inject

        carrier: dict[str, str] = {}
        inject(carrier)
        kept = [(name, value) for name, value in headers if name not in _PROPAGATED]
        return kept + [(name.encode(), value.encode()) for name, value in carrier.items()]

    def answered(self, status: int) -> None:
        self._span.set_attribute("http.status_code", status)
        if status >= 500:
            self._span.set_status(trace.StatusCode.ERROR)


def client_span(method: str, base_url: str, target: bytes) -> _NoSpan:
    """An outgoing HTTP call to ``base_url`` + ``target`` made without an instrumented
    client (the gateway's proxy): with tracing on, a client span, whose context
    :meth:`~_NoSpan.carry` puts in the request's headers in place of the caller's, so
    the callee continues it; with tracing off, nothing (not even the URL is built)."""
    if _provider is None:
        return _NO_SPAN
    return _ClientSpan(method, base_url + target.decode("latin-1"))


def incoming_trace_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            match = _TRACEPARENT.match(value.decode("latin-1").strip())
            if match and match[1] != "0" * 32:
                return match[1]
    return None


class TraceparentLogContext:
    """With tracing off, logs the trace ID of the client's ``traceparent`` (if any), so
    log lines still join up with the caller's trace. Runs inside the request context,
    which clears the log context at the start of each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (trace_id := incoming_trace_id(scope)):
            structlog.contextvars.bind_contextvars(trace_id=trace_id)
        await self.app(scope, receive, send)
