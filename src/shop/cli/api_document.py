"""The public API's OpenAPI document, as the gateway serves it at ``/openapi.json``,
built from the apps themselves without running a server or opening a connection.

The documentation site renders it (``make docs-build``, through
``tools/mkdocs_hooks.py``). Each app is made with settings that point nowhere: an
app connects only when its lifespan starts, and the document needs no lifespan.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from shop.kit.service_auth import generate_service_token

# Never connected to: only for the settings' validation.
_NOWHERE = "postgresql://docs@127.0.0.1:9/docs"


def public_api_document() -> dict[str, Any]:
    """The gateway's own document merged with those of auth, products and orders, in
    the order the gateway merges them (the admin dashboard has no public API)."""
    from shop.auth.app import create_app as auth_app
    from shop.auth.config import AuthSettings
    from shop.gateway.app import create_app as gateway_app
    from shop.gateway.config import GatewaySettings
    from shop.gateway.openapi import merge_documents
    from shop.orders.app import create_app as orders_app
    from shop.orders.config import OrdersSettings
    from shop.products.app import create_app as products_app
    from shop.products.config import ProductsSettings

    token = SecretStr(generate_service_token())
    # SHOP_ENV=development: the default console email backend is allowed there.
    services = {
        "auth": auth_app(AuthSettings(AUTH_DATABASE_URL=_NOWHERE, SHOP_ENV="development")),
        "products": products_app(
            ProductsSettings(PRODUCTS_DATABASE_URL=_NOWHERE, service_token=token)
        ),
        "orders": orders_app(
            OrdersSettings(
                ORDERS_DATABASE_URL=_NOWHERE, service_token=token, SHOP_ENV="development"
            )
        ),
    }
    gateway = gateway_app(GatewaySettings()).openapi()
    return merge_documents(gateway, {name: app.openapi() for name, app in services.items()})
