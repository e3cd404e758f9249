from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from shop.kit.config import DatabaseSettings
from shop.kit.email import EmailSettings
from shop.kit.identity import IdentitySettings
from shop.kit.service_auth import strong_service_token


class OrdersSettings(DatabaseSettings, EmailSettings, IdentitySettings):
    service_name: str = "orders"
    port: int = Field(default=3003, validation_alias="ORDERS_PORT")
    database_url: str = Field(validation_alias="ORDERS_DATABASE_URL")

    # The products service's internal reservation API, called directly (never through
    # the gateway, which does not route /internal), with the shared SERVICE_TOKEN.
    # PRODUCTS_URLS lists every instance (comma-separated, as the gateway's); the client
    # fails over between them. Without it, PRODUCTS_URL names the one instance (or the
    # Service in front of them, as in Kubernetes).
    products_urls: Annotated[list[str], NoDecode] = []
    products_url: str = "http://127.0.0.1:3002"
    # An instance that refused a connection or failed an attempt is tried after the
    # others for this long.
    products_eject_seconds: float = Field(default=10.0, gt=0)
    service_token: SecretStr | None = None
    products_connect_timeout: float = Field(default=1.0, gt=0)
    products_read_timeout: float = Field(default=3.0, gt=0)
    # Attempts of one call (all reservation calls are idempotent by order id), with
    # exponential backoff and jitter; the whole call gives up after the deadline.
    products_retry_attempts: int = Field(default=3, ge=1, le=10)
    products_deadline_seconds: float = Field(default=5.0, gt=0)
    # After this many consecutive failed attempts, calls fail at once for this long.
    products_breaker_failures: int = Field(default=5, ge=1)
    products_breaker_recovery_seconds: float = Field(default=10.0, gt=0)

    # A pending order older than this is no longer being placed: the reconciler
    # cancels it and gives back whatever products holds for it.
    placement_deadline_seconds: float = Field(default=30.0, ge=0)
    reconcile_interval_seconds: float = Field(default=5.0, gt=0)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)

    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    # Delivered (or given up) outbox rows are deleted this long after, by the worker.
    outbox_retention_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    public_base_url: str = "http://127.0.0.1:3000"
    # Catalog prices include tax (EU-style): the total is what the lines and shipping
    # cost, and tax_total is the tax they contain. Else (US-style) tax is added on top.
    prices_include_tax: bool = False
    # The most units of one variant an order or cart line may ask for.
    max_line_quantity: int = Field(default=100, ge=1, le=1000)

    # Carts: an open cart expires this long after its last change (swept every
    # cart_sweep_interval_seconds); it holds at most max_cart_lines lines. A cart read
    # asks products for its lines' current prices and stock in one call; each answer is
    # kept in this process for cart_catalog_cache_seconds (0: never kept).
    cart_ttl_days: int = Field(default=30, ge=1)
    cart_sweep_interval_seconds: float = Field(default=3600.0, gt=0)
    max_cart_lines: int = Field(default=100, ge=1, le=100)
    cart_catalog_cache_seconds: float = Field(default=2.0, ge=0)

    # Checkout: guests may pay manually only where this is true; a user holds at most
    # max_unpaid_orders manual orders not yet paid (409 beyond).
    manual_payments_for_guests: bool = False
    max_unpaid_orders: int = Field(default=3, ge=1)

    # Payments (docs/payments.md): the providers a buyer may choose (comma-separated; the
    # first is the default). An order paid online is pending, its stock held, for
    # payment_hold_minutes; unpaid by then, it is cancelled. Stripe needs both keys
    # (else the service refuses to start); stripe_api_base points it elsewhere (a
    # stand-in such as localstripe in tests).
    payment_providers: Annotated[list[Literal["manual", "stripe"]], NoDecode] = ["manual"]
    payment_hold_minutes: int = Field(default=30, ge=1, le=23 * 60)
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    # The reconciler asks the provider about a payment still awaited once it has not
    # been checked for this long (a webhook may have been lost).
    payment_settle_after_seconds: float = Field(default=60.0, ge=0)

    # At least 32 random bytes, no placeholder: else the service refuses to start.
    _strong_service_token = field_validator("service_token")(strong_service_token)

    @field_validator("products_url", "public_base_url", "stripe_api_base")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("products_urls", "payment_providers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("stripe_secret_key", "stripe_webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # compose passes an unset key as ""

    @field_validator("payment_providers")
    @classmethod
    def _some_provider(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one payment provider: manual, stripe")
        return list(dict.fromkeys(value))  # duplicates dropped, order kept

    @model_validator(mode="after")
    def _stripe_configured(self) -> Self:
        if "stripe" in self.payment_providers and not (
            self.stripe_secret_key and self.stripe_webhook_secret
        ):
            raise ValueError(
                "PAYMENT_PROVIDERS enables stripe, so STRIPE_SECRET_KEY and"
                " STRIPE_WEBHOOK_SECRET must both be set"
            )
        return self

    @property
    def products_instances(self) -> list[str]:
        """The products instances to call: PRODUCTS_URLS, else PRODUCTS_URL alone."""
        urls = [url.rstrip("/") for url in self.products_urls] or [self.products_url]
        return list(dict.fromkeys(urls))  # duplicates dropped, order kept
