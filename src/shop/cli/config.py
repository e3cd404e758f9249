"""Settings of the ``shop`` command itself (the services read their own)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shop.kit.config import Environment, LogFormat, default_log_format


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path(".data"), validation_alias="SHOP_DATA_DIR")
    bind_host: str = "127.0.0.1"
    gateway_port: int = 3000
    auth_port: int = 3001
    products_port: int = 3002
    orders_port: int = 3003
    admin_port: int = 3004
    auth_database_url: str | None = None
    products_database_url: str | None = None
    orders_database_url: str | None = None
    redis_url: str | None = None
    log_format: LogFormat = Field(default_factory=default_log_format)
    # `shop up` runs the system on a developer's machine: its services get SHOP_ENV
    # (development unless set), which lets them use the console email backend.
    environment: Environment = Field(default="development", validation_alias="SHOP_ENV")
    # Seconds `shop up` waits for every service to be ready.
    startup_timeout: float = 60.0

    def port_of(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def database_url_of(self, service: str) -> str | None:
        url: str | None = getattr(self, f"{service}_database_url")
        return url
