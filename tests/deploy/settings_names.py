"""The environment variable names the code reads, taken from the settings classes.

The compose file and the Kubernetes manifests may only set names listed here, so
neither can drift from the code (a renamed or removed setting fails the tests).
"""

from __future__ import annotations

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from shop.admin.config import AdminSettings
from shop.auth.config import AuthSettings
from shop.cli.config import CliSettings
from shop.gateway.config import GatewaySettings
from shop.orders.config import OrdersSettings
from shop.products.config import ProductsSettings

# The settings class of each service, and of the command line (`shop migrate`).
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "auth": AuthSettings,
    "products": ProductsSettings,
    "orders": OrdersSettings,
    "admin": AdminSettings,
    "cli": CliSettings,
}

# Read by libraries rather than by a settings class: boto3 takes its credentials
# from the environment (ProductsSettings has AWS_REGION, S3_* itself).
LIBRARY_NAMES: dict[str, set[str]] = {
    "products": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
}


# Read by the OpenTelemetry SDK in every service (shop.kit.tracing), not by a settings class.
OTEL_NAMES = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_BSP_SCHEDULE_DELAY",
}


def env_names(settings: type[BaseSettings]) -> set[str]:
    """Upper-case names ``settings`` reads: a field's alias if it has one, else its name."""
    assert not settings.model_config.get("env_prefix"), "an env prefix is not handled here"
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add(name.upper())
        elif isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:  # pragma: no cover - no such alias in the code today
            raise TypeError(f"{settings.__name__}.{name}: alias {alias!r} is not handled")
    return names


def known_names(program: str) -> set[str]:
    """Every name ``program`` (a service, or ``"cli"``) reads from the environment."""
    names = env_names(SETTINGS[program]) | LIBRARY_NAMES.get(program, set())
    return names if program == "cli" else names | OTEL_NAMES


def default_port(service: str) -> int:
    port = SETTINGS[service].model_fields["port"].default
    assert isinstance(port, int)
    return port
