from typing import Annotated
from urllib.parse import urlsplit

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shop.kit.config import CidrList
from shop.kit.identity import IdentitySettings

UrlList = Annotated[list[str], NoDecode]


class GatewaySettings(IdentitySettings):
    service_name: str = "gateway"
    port: int = Field(default=3000, validation_alias="GATEWAY_PORT")
    # The public edge believes no X-Forwarded-For unless TRUSTED_PROXIES says so.
    trusted_proxies: CidrList = []
    # Uploads are the largest bodies the gateway forwards: a 10 MiB image and its envelope.
    max_body_bytes: int = Field(default=11 * 1024 * 1024, ge=1)
    # Every other route takes JSON, never this much.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1)

    # Slow clients (see gateway.slow_clients and gateway.server). Seconds from the start
    # of a request by which its whole body must have arrived (408 after), for image
    # uploads and for every other route; seconds from a connection's start (or a kept-alive
    # connection's next request) by which the request line and headers must have arrived
    # (the connection is closed after).
    upload_receive_timeout: float = Field(default=120.0, gt=0)
    request_receive_timeout: float = Field(default=30.0, gt=0)
    request_head_timeout: float = Field(default=30.0, gt=0)
    # Requests in progress at once per client address (TRUSTED_PROXIES decides which
    # address that is), per gateway process; 429 beyond.
    max_requests_per_client: int = Field(default=50, ge=1)

    # Requests per client IP and, besides, per signed-in user, in the notation of the
    # `limits` library ("600/minute", "10 per second"). /api/v1/auth/* has its own,
    # stricter budget: that is where passwords are guessed and accounts created.
    rate_limit_default: str = "600/minute"
    rate_limit_auth: str = "60/minute"
    # Seconds between the sends of hits counted in the process (a key far from its
    # budget; see gateway.rate_counts); 0 counts every hit in Redis before answering.
    rate_limit_sync_seconds: float = Field(default=0.1, ge=0, le=10)

    # Browser origins allowed to call the API with credentials (exact, comma-separated,
    # e.g. "https://shop.example,https://admin.shop.example"); none by default.
    cors_origins: UrlList = []
    cors_max_age: int = Field(default=600, ge=0)
    # Sent on responses to requests that came over HTTPS (see gateway.security).
    hsts_max_age: int = Field(default=63_072_000, ge=0)

    auth_urls: UrlList = ["http://127.0.0.1:3001"]
    products_urls: UrlList = ["http://127.0.0.1:3002"]
    orders_urls: UrlList = ["http://127.0.0.1:3003"]
    admin_urls: UrlList = ["http://127.0.0.1:3004"]

    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_read_timeout: float = Field(default=30.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)
    # An instance that refuses connections, or fails UPSTREAM_EJECT_AFTER_ERRORS requests
    # in a row after they were sent, is tried last for this long.
    upstream_eject_seconds: float = Field(default=10.0, gt=0)
    upstream_eject_after_errors: int = Field(default=3, ge=1)
    # Seconds between active health checks of every instance (GET /health/ready); 0
    # turns them off. UPSTREAM_UNHEALTHY_AFTER failed checks in a row eject an
    # instance until one passes.
    upstream_health_interval: float = Field(default=2.0, ge=0)
    upstream_unhealthy_after: int = Field(default=2, ge=1)

    @field_validator("auth_urls", "products_urls", "orders_urls", "admin_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip().rstrip("/") for url in value.split(",") if url.strip()]
        return value

    @field_validator("auth_urls", "products_urls", "orders_urls", "admin_urls")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one upstream URL is required")
        return value

    @field_validator("rate_limit_default", "rate_limit_auth")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse(value)  # a ValueError names what is wrong
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            exact = parts.scheme in ("http", "https") and parts.netloc and "*" not in origin
            if not exact or parts.path or parts.query or parts.fragment:
                raise ValueError(f"{origin!r} is not an exact origin (scheme://host[:port])")
        return value

    def upstream_urls(self) -> dict[str, list[str]]:
        return {
            "auth": self.auth_urls,
            "products": self.products_urls,
            "orders": self.orders_urls,
            "admin": self.admin_urls,
        }
