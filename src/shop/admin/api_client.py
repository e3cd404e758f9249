"""The public API as the dashboard calls it: through the gateway, like any client.

Every answer of 400 and above becomes an :class:`ApiError` carrying the problem the
API sent (RFC 9457: title, detail, and per-field ``errors``), which the pages show in
words next to the fields or actions they concern.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from shop.admin.config import AdminSettings
from shop.kit.health import ReadinessCheck
from shop.kit.http import create_http_client
from shop.kit.resource import Resource

API = "/api/v1"


class ApiError(Exception):
    """The API refused a request (or could not be reached: status 503)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: list[dict[str, Any]] | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        errors = problem.get("errors")
        return cls(
            response.status_code,
            str(problem.get("title") or response.reason_phrase or "Error"),
            str(problem.get("detail") or ""),
            errors if isinstance(errors, list) else [],
            response.headers.get("retry-after"),
        )

    def message(self) -> str:
        """The problem in one sentence, for the top of a form or an action."""
        return self.detail or self.title

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) of each of the problem's ``errors``, the field as the API
        spells it (``variants.0.price``; ``body`` for the body as a whole)."""
        found = []
        for error in self.errors:
            if not isinstance(error, dict):
                continue
            field = str(error.get("field") or error.get("product_id") or "")
            message = error.get("message") or _stock_message(error)
            if field and message:
                found.append((field, str(message)))
        return found

    def field_errors(self) -> dict[str, str]:
        """Messages by field, the API's dotted paths spelt as the forms' names
        (``variants.0.price`` is the input ``variants-0-price``)."""
        found: dict[str, str] = {}
        for field, message in self.problems():
            found.setdefault(field.replace(".", "-"), message)
        return found


def _stock_message(error: Mapping[str, Any]) -> str | None:
    if "requested" in error and "available" in error:
        return f"{error['requested']} requested, {error['available']} available"
    return None


class ApiClient:
    """One pooled HTTP client to the gateway for the whole process."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        client: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        files: Any = None,
    ) -> httpx.Response:
        """``path`` below /api/v1. Raises :class:`ApiError` on any answer of 400 or more.
        ``client`` is the browser's address, sent as X-Forwarded-For: a gateway that
        lists the dashboard in its TRUSTED_PROXIES (Kubernetes: the pod CIDR) then counts
        its rate limits and login failures per member of staff, not for all of them."""
        sent = dict(headers or {})
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        if client:
            sent["x-forwarded-for"] = client
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.client.request(
                method, API + path, json=json, params=query, headers=sent, files=files
            )
        except httpx.HTTPError as exc:
            raise ApiError(503, "The shop's API is unreachable", "Try again in a moment.") from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response


def api_resource(settings: AdminSettings) -> Resource:
    """``app.state.api``: the client of the public API. Not a readiness check: the
    gateway is ready only once the dashboard is, so the dashboard must not wait for it."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        timeout = settings.admin_api_timeout
        client = create_http_client(
            settings.admin_api_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        )
        app.state.api = ApiClient(client)
        try:
            yield {}
        finally:
            await client.aclose()

    return resource
