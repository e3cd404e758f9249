from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from shop.kit.config import DatabaseSettings
from shop.kit.identity import IdentitySettings
from shop.kit.service_auth import strong_service_token


class ProductsSettings(DatabaseSettings, IdentitySettings):
    service_name: str = "products"
    port: int = Field(default=3002, validation_alias="PRODUCTS_PORT")
    database_url: str = Field(validation_alias="PRODUCTS_DATABASE_URL")
    # Room for a 10 MiB image and its multipart envelope; JSON bodies are bounded by schemas.
    max_body_bytes: int = Field(default=11 * 1024 * 1024, ge=1)

    # The shop's one currency (ISO 4217), for every price.
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    # Product reads and listing pages are cached this long (writes invalidate at once).
    cache_ttl_seconds: int = Field(default=60, ge=0)
    public_base_url: str = "http://127.0.0.1:3000"

    search_backend: Literal["postgres", "elasticsearch", "opensearch"] = "postgres"
    # With postgres: text searches answered from an index of the active catalog kept in
    # each process (docs/search.md); stock in it may lag this long.
    search_in_process_index: bool = False
    search_index_follow_seconds: float = Field(default=1.0, gt=0, le=60)
    # Product views kept beside the index (1 to 3 KB each; 0: none, every page reads them).
    search_index_views: int = Field(default=50_000, ge=0)
    elasticsearch_url: str | None = None
    elasticsearch_index: str = "products"
    # OpenSearch (a node or a managed cluster such as AWS OpenSearch Service): TLS follows
    # the URL's scheme; the CA bundle (PEM) replaces the system's trusted authorities.
    opensearch_url: str | None = None
    opensearch_index: str = "products"
    opensearch_username: str | None = None
    opensearch_password: SecretStr | None = None
    opensearch_ca_bundle: Path | None = None

    storage_backend: Literal["local", "s3"] = "local"
    media_dir: Path | None = None  # None: $SHOP_DATA_DIR/media
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_public_base_url: str | None = None  # None: presigned URLs
    aws_region: str = "us-east-1"
    image_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    image_max_pixels: int = Field(default=40_000_000, ge=1)
    thumbnail_size: int = Field(default=320, ge=16, le=2048)

    # Secret the orders service presents on the internal reservation API.
    service_token: SecretStr | None = None
    reservation_ttl_seconds: int = Field(default=15 * 60, ge=10)
    sweeper_interval_seconds: float = Field(default=30.0, gt=0)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    # Delivered (or given up) outbox rows are deleted this long after, by the worker.
    outbox_retention_seconds: int = Field(default=7 * 24 * 3600, ge=0)

    @property
    def media_directory(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    # At least 32 random bytes, no placeholder: else the service refuses to start.
    _strong_service_token = field_validator("service_token")(strong_service_token)

    @field_validator("elasticsearch_url", "opensearch_url")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None
