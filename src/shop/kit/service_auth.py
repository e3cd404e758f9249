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
- A configured token must be at least 32 random bytes, as text (43 characters:
  ``secrets.token_urlsafe(32)``; ``openssl rand -hex 32`` gives 64), and not a
  placeholder from the repository's examples: the services' settings validate it
  with :func:`strong_service_token`, so a service refuses to start with a weak one.
"""

from __future__ import annotations

import hmac
import secrets
import string
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
# 32 random bytes as text: in URL-safe base64 (the shortest usual text of them), or
# in hex digits (a token of hex digits only is taken for hex).
MIN_SERVICE_TOKEN_LENGTH = 43
MIN_HEX_SERVICE_TOKEN_LENGTH = 64
# Fewer distinct characters than this in a token this long is no random text (64 hex
# digits of 32 random bytes show fewer than 12 with a probability below 1e-6).
MIN_DISTINCT_CHARACTERS = 12
# Parts of placeholders in the repository's examples (compose.yaml, .env.example,
# deploy/kubernetes/secret.example.yaml) and of their usual kin: a token containing
# one was typed by a person, or copied from an example anyone can read.
PLACEHOLDER_MARKERS = (
    "dev-only",
    "not-for-production",
    "replace",
    "change-me",
    "changeme",
    "example",
    "placeholder",
    "service-token",
)

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


def generate_service_token() -> str:
    """A token that passes :func:`strong_service_token`: 32 random bytes."""
    return secrets.token_urlsafe(32)


def strong_service_token(token: SecretStr | None) -> SecretStr | None:
    """The settings' validator of ``SERVICE_TOKEN``: unset stays unset (the internal
    API is then closed), anything else must be at least 32 random bytes as text and
    no placeholder; a ValueError says why not and how to make one."""
    value = secret_value(token)
    if value is None:
        return None
    how = (
        "Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        " or `openssl rand -hex 32`, and give the same one to products and orders."
    )
    lowered = value.lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        raise ValueError(f"SERVICE_TOKEN is a placeholder from an example, not a secret. {how}")
    is_hex = all(character in string.hexdigits for character in value)
    shortest = MIN_HEX_SERVICE_TOKEN_LENGTH if is_hex else MIN_SERVICE_TOKEN_LENGTH
    if len(value) < shortest or len(set(value)) < MIN_DISTINCT_CHARACTERS:
        raise ValueError(
            f"SERVICE_TOKEN must be at least 32 random bytes ({MIN_SERVICE_TOKEN_LENGTH}"
            f" characters of base64, or 64 hex digits); this one has {len(value)} characters"
            f" ({len(set(value))} distinct). {how}"
        )
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
