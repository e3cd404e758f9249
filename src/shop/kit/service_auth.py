"""Service-to-service authentication with a shared secret.

A service's internal API (never routed by the gateway) is called by other
services only. The caller presents the shared secret in the header
``X-Service-Token``; the callee has it in its settings as ``service_token``
(env ``SERVICE_TOKEN``) and compares the two in constant time::

    @router.put("/internal/v1/reservations/{order_id}")
    async def reserve(caller: ServiceCaller, ...) -> ...

On the calling side, :func:`service_headers` makes the header::

    await client.put(url, json=body, headers=service_headers(settings.service_token))

Rules:

- Missing or wrong token: 401 problem (``service-authentication-required``)
  with ``WWW-Authenticate: ServiceToken``. A customer's or an admin's bearer
  access token is never looked at: it grants nothing here.
- No token configured on the callee (``service_token`` unset or blank): every
  call is refused with 503 (``service-authentication-not-configured``). The API
  fails closed, and a misconfigured deployment is the operator's error to fix,
  not a caller's to retry with other credentials.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from shop.kit.errors import ShopError

SERVICE_TOKEN_HEADER = "X-Service-Token"  # noqa: S105 (a header name, not a secret)
# Longer header values are refused unread (a token is a few dozen characters).
MAX_SERVICE_TOKEN_LENGTH = 1024

log = structlog.get_logger("shop.service_auth")

# Declares the header as a security scheme in the OpenAPI document; it never raises itself.
_token_header = APIKeyHeader(
    name=SERVICE_TOKEN_HEADER,
    scheme_name="ServiceToken",
    description="The shared secret of the internal API (SERVICE_TOKEN).",
    auto_error=False,
)


class ServiceAuthenticationError(ShopError):
    """The call carries no service token, or not the right one."""

    status = 401
    title = "Service authentication required"
    type_slug = "service-authentication-required"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail or f"This internal API needs a valid {SERVICE_TOKEN_HEADER} header.", **extra
        )

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'ServiceToken header="{SERVICE_TOKEN_HEADER}"'}


class ServiceAuthNotConfiguredError(ShopError):
    """This service has no service token configured: its internal API is closed."""

    status = 503
    title = "Service authentication not configured"
    type_slug = "service-authentication-not-configured"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail or "The internal API is disabled: no service token is configured.", **extra
        )


@dataclass(frozen=True)
class ServicePrincipal:
    """An authenticated service caller; ``actor`` is what audit records name it."""

    actor: str = "service"


def secret_value(token: SecretStr | str | None) -> str | None:
    """The token's text, or None when it is unset or blank (which counts as unset)."""
    if isinstance(token, SecretStr):
        token = token.get_secret_value()
    if token is None or not token.strip():
        return None
    return token


def configured_token(request: Request) -> str | None:
    """The callee's own token: ``app.state.settings.service_token``."""
    settings = getattr(request.app.state, "settings", None)
    token = getattr(settings, "service_token", None)
    return secret_value(token if isinstance(token, SecretStr | str) else None)


def tokens_match(presented: str, expected: str) -> bool:
    """Constant-time comparison (the time depends on the lengths only)."""
    return hmac.compare_digest(presented.encode(), expected.encode())


async def service_caller(
    request: Request, presented: Annotated[str | None, Depends(_token_header)]
) -> ServicePrincipal:
    """The dependency behind :data:`ServiceCaller`."""
    expected = configured_token(request)
    if expected is None:
        log.error("internal API called but no service token is configured")
        raise ServiceAuthNotConfiguredError()
    if not presented or len(presented) > MAX_SERVICE_TOKEN_LENGTH:
        raise ServiceAuthenticationError()
    if not tokens_match(presented, expected):
        log.warning("internal API called with a wrong service token")
        raise ServiceAuthenticationError("The service token is not valid.")
    return ServicePrincipal()


ServiceCaller = Annotated[ServicePrincipal, Depends(service_caller)]


def service_headers(token: SecretStr | str | None) -> dict[str, str]:
    """The header a calling service sends. An unset token raises: a caller without
    one would only be refused, so it is a configuration error to report at once."""
    value = secret_value(token)
    if value is None:
        raise ValueError("no service token configured (SERVICE_TOKEN)")
    return {SERVICE_TOKEN_HEADER: value}
