from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from shop.kit.config import DatabaseSettings
from shop.kit.email import EmailSettings
from shop.kit.identity import IdentitySettings


class AuthSettings(DatabaseSettings, EmailSettings, IdentitySettings):
    service_name: str = "auth"
    port: int = Field(default=3001, validation_alias="AUTH_PORT")
    database_url: str = Field(validation_alias="AUTH_DATABASE_URL")

    # PEM of the Ed25519 signing key. Unset: keys live in $SHOP_DATA_DIR/keys,
    # generated on first start; the newest signs, all of them verify (rotation).
    jwt_private_key: SecretStr | None = None
    # With JWT_PRIVATE_KEY: PEM public keys that verify and are published, never sign
    # (the key before a rotation for an access token's lifetime; the next one ahead of it).
    jwt_previous_public_keys: str | None = None
    # Keys directory: a new key file is published at once but signs only once this old,
    # so every verifier has it first (more than the verifiers' JWKS refresh, 300 s).
    jwt_key_activation_seconds: float = Field(default=600, ge=0)
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=60)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)
    # Absolute lifetime of a session from its login, in seconds: refreshing never
    # extends a session past it.
    session_max_age: int = Field(default=30 * 24 * 3600, ge=60)
    verification_token_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    reset_token_ttl_seconds: int = Field(default=3600, ge=60)

    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    # Failed logins per account from one client; per account from all clients; per
    # client (an IPv6 client's /64) over all accounts. See shop.auth.throttle.
    login_failure_limit: str = "5/15minutes"
    login_failure_limit_account: str = "20/15minutes"
    login_failure_limit_ip: str = "50/15minutes"
    # Emails anonymous requests may send one address (register, resend, forgot).
    email_recipient_limit: str = "1/minute;5/hour"

    # How often the outbox worker looks for mail to send when idle.
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    # Delivered (or given up) outbox rows are deleted this long after, by the worker.
    outbox_retention_seconds: int = Field(default=7 * 24 * 3600, ge=0)

    public_base_url: str = "http://127.0.0.1:3000"
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @model_validator(mode="after")
    def _bootstrap_admin_is_complete(self) -> "AuthSettings":
        if bool(self.bootstrap_admin_email) != bool(self.bootstrap_admin_password):
            raise ValueError(
                "set both BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD, or neither"
            )
        return self
