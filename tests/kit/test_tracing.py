"""Tracing switched on by the environment, the sampler, and trace IDs in the logs.

Export itself is tested with real processes (test_tracing_export.py): the tracer
provider is process-wide, and this process runs every service with tracing off.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, ParentBased
from opentelemetry.trace import SpanKind

from shop.kit.logging import configure_logging
from shop.kit.tracing import (
    RequestRootSampler,
    configure_tracing,
    incoming_trace_id,
    sampling_ratio,
    tracing_requested,
)
from tests.gateway.services import echo_services, gateway_client, gateway_settings, header_values
from tests.kit.probe_app import create_probe_app
from tests.support import Databases, app_client

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """The JSON lines logged meanwhile (after the app under test configured logging)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_on_only_with_an_endpoint(environ: dict[str, str], expected: bool) -> None:
    assert tracing_requested(environ) is expected


def test_without_an_endpoint_nothing_is_installed() -> None:
    # The suite runs without OTEL_* (see service_process.clean_environment for processes).
    assert configure_tracing("probe") is None
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


def test_sampling_ratio_comes_from_the_standard_variable() -> None:
    assert sampling_ratio({}) == 1.0
    assert sampling_ratio({"OTEL_TRACES_SAMPLER_ARG": "0.25"}) == 0.25
    assert sampling_ratio({"OTEL_TRACES_SAMPLER_ARG": "7"}) == 1.0
    assert sampling_ratio({"OTEL_TRACES_SAMPLER_ARG": "lots"}) == 1.0


def test_traces_start_at_requests_and_follow_a_callers_decision() -> None:
    sampler = ParentBased(root=RequestRootSampler())
    trace_id = int(TRACE_ID, 16)
    server = sampler.should_sample(None, trace_id, "GET /x", SpanKind.SERVER)
    assert server.decision == Decision.RECORD_AND_SAMPLE
    # A background loop's own statement or call starts nothing.
    for kind in (SpanKind.CLIENT, SpanKind.INTERNAL):
        assert sampler.should_sample(None, trace_id, "SELECT", kind).decision == Decision.DROP
    # Inside a sampled request, its children are sampled.
    provider = TracerProvider(sampler=sampler)
    with provider.get_tracer("test").start_as_current_span("GET /x", kind=SpanKind.SERVER):
        child = provider.get_tracer("test").start_span("SELECT", kind=SpanKind.CLIENT)
        assert child.is_recording()
    assert RequestRootSampler(0.0).should_sample(
        None, trace_id, "GET /x", SpanKind.SERVER
    ).decision == (Decision.DROP)


def test_a_traceparent_is_read_only_when_well_formed() -> None:
    def scope(value: bytes) -> dict[str, object]:
        return {"headers": [(b"traceparent", value)]}

    assert incoming_trace_id(scope(TRACEPARENT.encode())) == TRACE_ID
    assert incoming_trace_id(scope(b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01")) is None
    assert incoming_trace_id(scope(b"garbage")) is None
    assert incoming_trace_id({"headers": []}) is None


def test_log_lines_carry_the_current_spans_ids() -> None:
    configure_logging("probe", "json")
    # A provider of this test's own: the global one stays unset for the others.
    tracer = TracerProvider().get_tracer("test")
    with captured_logs() as log_lines:
        with tracer.start_as_current_span("work") as span:
            structlog.get_logger("test").info("inside")
        structlog.get_logger("test").info("outside")
    inside, outside = parsed(log_lines)[-2:]
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in outside


async def test_with_tracing_off_logs_carry_the_callers_trace_id(
    databases: Databases, redis_url: str
) -> None:
    app = create_probe_app(databases.urls["products"], redis_url)
    async with app_client(app) as client:
        with captured_logs() as log_lines:
            await client.get("/api/v1/probe/items/1", headers={"traceparent": TRACEPARENT})
            await client.get("/api/v1/probe/items/2")
    access = [line for line in parsed(log_lines) if line["event"] == "request"]
    assert access[0]["trace_id"] == TRACE_ID
    assert access[0]["request_id"]
    assert "trace_id" not in access[1]


async def test_with_tracing_off_the_gateway_forwards_the_callers_trace_context() -> None:
    with echo_services() as services:
        async with gateway_client(gateway_settings(services)) as gateway:
            response = await gateway.get(
                "/api/v1/products/1",
                headers={"traceparent": TRACEPARENT, "tracestate": "vendor=1"},
            )
    assert response.status_code == 200
    summary = response.json()
    assert header_values(summary, "traceparent") == [TRACEPARENT]
    assert header_values(summary, "tracestate") == ["vendor=1"]
