"""Typed settings shared by every service.

Each service subclasses :class:`ServiceSettings` with its own fields. Values
come from the environment and from a ``.env`` file in the working directory;
the variable names are the ones in the public contract (docs/configuration.md).
"""

from __future__ import annotations

import sys
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogFormat = Literal["json", "console"]
# What the process runs for. Only "development" allows what leaks secrets on purpose
# (the console email backend prints reset links); anything unset counts as production.
Environment = Literal["development", "production"]
CidrList = Annotated[list[IPv4Network | IPv6Network], NoDecode]


def default_log_format() -> LogFormat:
    """Human-friendly output on a terminal, JSON lines everywhere else."""
    return "console" if sys.stderr.isatty() else "json"


def to_async_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and select the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("must be a PostgreSQL URL (postgresql://user:pass@host:port/db)")


class ServiceSettings(BaseSettings):
    """Settings every service process has."""

    # An error names the setting and the reason, never the value: it may be a secret
    # (a weak SERVICE_TOKEN, a database URL with its password).
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    service_name: str = "shop"
    environment: Environment = Field(default="production", validation_alias="SHOP_ENV")
    data_dir: Path = Field(default=Path(".data"), validation_alias="SHOP_DATA_DIR")
    bind_host: str = "127.0.0.1"
    port: int = 0
    log_format: LogFormat = Field(default_factory=default_log_format)
    log_level: str = "INFO"
    # How long a log line may wait to be written with others (one write for many: a
    # write per line cost the gateway a fifth of a request); warnings and worse go at
    # once. 0 writes every line at once.
    log_flush_seconds: float = Field(default=0.2, ge=0, le=5)
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Requests whose body is larger are answered 413 before the body is read in full.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # Peers whose X-Forwarded-For is believed. Services sit behind the gateway, which
    # runs on loopback by default; the gateway itself trusts no one unless told.
    trusted_proxies: CidrList = [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    # On SIGTERM, requests in flight get this long to finish before they are cancelled.
    # Keep it under the orchestrator's kill deadline (Kubernetes: 30 s, minus preStop).
    shutdown_grace_seconds: int = Field(default=15, ge=1)
    # Listen with SO_REUSEPORT, so that several processes of the service share its port
    # (`shop up --scale gateway=2` sets it). Off by default: a second system started by
    # mistake then fails on the busy port instead of silently sharing it.
    reuse_port: bool = False

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated_cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class DatabaseSettings(ServiceSettings):
    """Settings of a service that owns a PostgreSQL database."""

    database_url: str
    # Kept open: enough for a loaded process's concurrent transactions, since an
    # overflow connection is closed as soon as it is returned (a new one costs a
    # connection handshake, type introspection, cold prepared statements and a new
    # PostgreSQL backend): 32 searches in flight on one products process answered
    # 15 % fewer a second on 20 + 10 than on 40 + 10 (bench/README.md). So no
    # overflow by default: the same 30 at most, all kept.
    database_pool_size: int = Field(default=30, ge=1)
    database_max_overflow: int = Field(default=0, ge=0)
    database_statement_timeout_ms: int = Field(default=15_000, ge=0)

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, value: str) -> str:
        return to_async_database_url(value)
