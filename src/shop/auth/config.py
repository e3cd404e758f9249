from pydantic import Field

from shop.kit.config import DatabaseSettings


class AuthSettings(DatabaseSettings):
    service_name: str = "auth"
    port: int = Field(default=3001, validation_alias="AUTH_PORT")
    database_url: str = Field(validation_alias="AUTH_DATABASE_URL")
