"""Which service answers which path, and the instances of each service."""

from __future__ import annotations

from collections.abc import Iterable

from shop.kit.instances import Instances, Lease

__all__ = ["ROUTES", "Lease", "Upstream"]

# Public path prefixes and the service that owns them. A prefix matches the
# path itself and anything below it ("/api/v1/products" and "/api/v1/products/x").
ROUTES: dict[str, str] = {
    "/api/v1/auth": "auth",
    "/api/v1/categories": "products",
    "/api/v1/products": "products",
    "/api/v1/inventory": "products",
    "/api/v1/orders": "orders",
    "/api/v1/shipping-methods": "orders",
    "/api/v1/tax-rates": "orders",
    "/api/v1/promotions": "orders",
    "/api/v1/carts": "orders",
    # Payment providers' webhooks (no bearer token: verified by their signatures).
    "/api/v1/payments": "orders",
    # Images of the local storage backend (with S3 their URLs point at the bucket).
    "/media": "products",
    # The dashboard's pages (a client of the API above, served by its own process).
    "/admin": "admin",
}


class Upstream(Instances):
    """One service the gateway forwards to: its name and its instances.

    Which instance a request goes to, and when one is ejected, is the kit's
    :class:`~shop.kit.instances.Instances`: the fewest outstanding requests
    first (the proxy holds a :class:`Lease` until the answer is relayed), ties
    in turn, ejected instances last, the soonest back first. The gateway
    reports all of it: refused connections and transport errors (the proxy)
    and active health checks (:mod:`shop.gateway.health_checks`).
    """

    def __init__(
        self,
        name: str,
        urls: Iterable[str],
        *,
        eject_seconds: float = 10.0,
        unhealthy_after: int = 2,
        eject_after_errors: int = 3,
    ) -> None:
        super().__init__(
            urls,
            eject_seconds=eject_seconds,
            eject_after_errors=eject_after_errors,
            unhealthy_after=unhealthy_after,
        )
        self.name = name
