from pydantic import Field

from shop.kit.config import DatabaseSettings
from shop.kit.identity import IdentitySettings


class ProductsSettings(DatabaseSettings, IdentitySettings):
    service_name: str = "products"
    port: int = Field(default=3002, validation_alias="PRODUCTS_PORT")
    database_url: str = Field(validation_alias="PRODUCTS_DATABASE_URL")
