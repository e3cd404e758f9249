"""Structured logging: one configuration for structlog and the standard library.

Every line carries the service name and, inside a request, the request ID
(bound as a context variable by the request context middleware) and the trace
and span IDs of the current OpenTelemetry span (:mod:`shop.kit.tracing`). Lines
are JSON when not on a terminal, so log shippers can parse them.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import TextIO

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from shop.kit.config import LogFormat
from shop.kit.log_batches import BatchedStreamHandler


def _add_service(service: str) -> Processor:
    def processor(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", service)
        return event

    return processor


def add_trace_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """``trace_id`` and ``span_id`` (hex, as tracing back ends show them) of the
    current span. Without an active span (tracing off) it adds nothing."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def _traceback_without_locals() -> structlog.typing.ExceptionRenderer:
    """Tracebacks as the console renderer draws them, minus the local variables (with
    rich installed it shows them: passwords, tokens and message bodies among them)."""
    if importlib.util.find_spec("rich") is None:
        return structlog.dev.plain_traceback
    return structlog.dev.RichTracebackFormatter(show_locals=False)


def configure_logging(
    service: str, log_format: LogFormat, level: str = "INFO", flush_seconds: float = 0.0
) -> None:
    """``flush_seconds``: how long a line may wait to be written with others
    (:mod:`shop.kit.log_batches`); 0 writes each at once."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_service(service),
        add_trace_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=_traceback_without_locals())

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger built before a (re)configuration would keep the old
        # processors, and the tests configure several services in one process.
        cache_logger_on_first_use=False,
    )
    handler: logging.StreamHandler[TextIO] = (
        BatchedStreamHandler(sys.stderr, seconds=flush_seconds)
        if flush_seconds
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    # Not gathered for every line, as no line shows them (the logging HOWTO,
    # "Optimization"): the caller's file and line (a walk up the stack per call,
    # through structlog's frames), the thread, the process. Half of what an access
    # log line cost (bench/README.md, "The gateway hop"). Pytest's captured-log
    # sections show "(unknown file)" instead of the file and line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's own handlers would print unstructured lines; route them to the root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # One line per outgoing request is noise; failures are logged where they are handled.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The request context middleware writes the access log, with the request ID.
    logging.getLogger("uvicorn.access").disabled = True


def write_waiting_lines() -> None:
    """Writes the log lines still waiting in a batch: before anything else is written
    to stderr directly, so that the two keep their order."""
    for handler in logging.getLogger().handlers:
        handler.flush()
