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
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=60)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)
    verification_token_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    reset_token_ttl_seconds: int = Field(default=3600, ge=60)

    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    login_failure_limit: str = "5/15minutes"

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
