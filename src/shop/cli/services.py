"""The services as the command line knows them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    app_factory: str  # "module:function", for uvicorn
    database: str | None = None  # database name on the embedded server

    @property
    def migrations(self) -> str:
        return f"shop.{self.name}:migrations"

    @property
    def env_prefix(self) -> str:
        return self.name.upper()


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("auth", "shop.auth.app:create_app", "auth_db"),
        ServiceSpec("products", "shop.products.app:create_app", "products_db"),
        ServiceSpec("orders", "shop.orders.app:create_app", "orders_db"),
        # The dashboard: a client of the public API (through the gateway), ready
        # without it (Redis only), so it starts with the others.
        ServiceSpec("admin", "shop.admin.app:create_app"),
        # Last: it is ready only once the others are.
        ServiceSpec("gateway", "shop.gateway.app:create_app"),
    )
}

DATABASE_SERVICES = [spec for spec in SERVICES.values() if spec.database]
