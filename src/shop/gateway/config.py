from typing import Annotated

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

    auth_urls: UrlList = ["http://127.0.0.1:3001"]
    products_urls: UrlList = ["http://127.0.0.1:3002"]
    orders_urls: UrlList = ["http://127.0.0.1:3003"]

    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_read_timeout: float = Field(default=30.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)

    @field_validator("auth_urls", "products_urls", "orders_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip().rstrip("/") for url in value.split(",") if url.strip()]
        return value

    @field_validator("auth_urls", "products_urls", "orders_urls")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one upstream URL is required")
        return value

    def upstream_urls(self) -> dict[str, list[str]]:
        return {"auth": self.auth_urls, "products": self.products_urls, "orders": self.orders_urls}
