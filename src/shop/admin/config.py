from typing import Literal

from pydantic import Field

from shop.kit.config import ServiceSettings


class AdminSettings(ServiceSettings):
    service_name: str = "admin"
    port: int = Field(default=3004, validation_alias="ADMIN_PORT")
    # The public API, as any client reaches it: the gateway.
    admin_api_url: str = "http://127.0.0.1:3000"
    admin_api_timeout: float = Field(default=15.0, gt=0)
    # A signed-in session ends after this long without a request (seconds), and at the
    # latest when the API's refresh token does (SESSION_MAX_AGE of auth).
    admin_session_idle_seconds: int = Field(default=8 * 3600, ge=60)
    # The session cookie's Secure attribute: "auto" sets it on requests that came over
    # HTTPS (X-Forwarded-Proto from the gateway), "always" everywhere (production
    # behind TLS), "never" not at all.
    admin_secure_cookie: Literal["auto", "always", "never"] = "auto"
    # Failed sign-ins allowed per client address and per email (the `limits` library's
    # notation), before the form answers "too many attempts" without asking the API.
    admin_login_failure_limit: str = "5/15minutes"
    admin_login_failure_limit_ip: str = "20/15minutes"
    # Its largest request: a product picture passed on to the API (10 MiB and the form).
    max_body_bytes: int = Field(default=11 * 1024 * 1024, ge=1)
    # Stock at or under this shows on the overview's low-stock list.
    admin_low_stock_threshold: int = Field(default=5, ge=0)
