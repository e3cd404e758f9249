from pydantic import Field

from shop.kit.config import DatabaseSettings
from shop.kit.identity import IdentitySettings


class OrdersSettings(DatabaseSettings, IdentitySettings):
    service_name: str = "orders"
    port: int = Field(default=3003, validation_alias="ORDERS_PORT")
    database_url: str = Field(validation_alias="ORDERS_DATABASE_URL")
