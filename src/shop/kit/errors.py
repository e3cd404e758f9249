"""Business errors and their RFC 9457 problem responses.

Every error a client can cause is its own exception class carrying its HTTP
status, title and problem type. :func:`install_problem_handlers` maps them
(and the framework's own 404/405/413/422 errors) to
``application/problem+json`` in one place. Unexpected exceptions never reach
this module: the request context middleware answers them with a bare 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://shop.dev/problems/"


def problem_body(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The JSON object of a problem response."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": type_ or PROBLEM_TYPE_BASE + phrase.lower().replace(" ", "-"),
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
    }
    body.update(extra)
    return body


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = problem_body(status, title=title, detail=detail, type_=type_, **extra)
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "An RFC 9457 problem; some carry more members, such as `errors`.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "additionalProperties": True,
}


def problem_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for the problem answers it may give: each status as
    ``application/problem+json`` (RFC 9457), described by ``descriptions`` or its phrase.

    The one way every service declares its error responses, straight in the route:
    ``responses=problem_responses(401, 404)``, or with words of its own,
    ``problem_responses(404, descriptions={409: "Already committed (problem)"})``."""
    described = dict(descriptions or {})
    return {
        status: {
            "description": described.get(status) or f"{HTTPStatus(status).phrase} (problem)",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_SCHEMA}},
        }
        for status in sorted({*statuses, *described})
    }


class ShopError(Exception):
    """Base of every error a client can cause. Subclass it once per business error."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    type_slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def headers(self) -> dict[str, str]:
        return {}

    def to_response(self) -> Response:
        return problem_response(
            self.status,
            title=self.title,
            detail=self.detail,
            type_=PROBLEM_TYPE_BASE + self.type_slug,
            headers=self.headers(),
            **self.extra,
        )


class NotFoundError(ShopError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class ConflictError(ShopError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class PayloadTooLargeError(ShopError):
    status = 413
    title = "Payload too large"
    type_slug = "payload-too-large"


class UpstreamUnavailableError(ShopError):
    status = 503
    title = "Service unavailable"
    type_slug = "upstream-unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class UpstreamTimeoutError(ShopError):
    status = 504
    title = "Gateway timeout"
    type_slug = "upstream-timeout"


def _field_path(location: Sequence[int | str]) -> str:
    # Drop the leading "body"/"query"/... unless it is all there is.
    parts = [str(p) for p in location]
    if len(parts) > 1 and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts)


async def _on_shop_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShopError)
    return exc.to_response()


async def _on_http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, detail=detail, headers=exc.headers)


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_path(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]
    return problem_response(
        422,
        title="Validation failed",
        detail="The request is not valid; see errors.",
        type_=PROBLEM_TYPE_BASE + "validation",
        errors=errors,
    )


def _document_framework_problems(document: dict[str, Any]) -> None:
    """What the handlers above answer for any route, said in the document: a request
    that fails validation is a 422 problem (not FastAPI's ``HTTPValidationError``), and
    a body that can't be parsed a 400 problem."""
    validation = problem_responses(422, descriptions={422: "Validation failed (problem)"})
    malformed = problem_responses(400, descriptions={400: "The body can't be parsed (problem)"})
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            declared = responses.get("422")
            if declared is not None and PROBLEM_CONTENT_TYPE not in declared.get("content", {}):
                responses["422"] = validation[422]
            if "requestBody" in operation:
                responses.setdefault("400", malformed[400])


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ShopError, _on_shop_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_framework_problems(generate())
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
