from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from shop.kit.app import create_service_app
from shop.kit.db import database_resource
from shop.kit.email import EmailRenderer, create_email_sender
from shop.kit.health import ReadinessCheck
from shop.kit.http import create_http_client
from shop.kit.http_pool import lean_transport
from shop.kit.identity import identity_resource
from shop.kit.outbox_email import email_handler
from shop.kit.outbox_worker import OutboxWorker, outbox_worker_resource
from shop.kit.redis import redis_resource
from shop.kit.resource import Resource
from shop.orders.api import router
from shop.orders.cart_sweeper import cart_sweeper_resource
from shop.orders.carts_api import router as carts_router
from shop.orders.config import OrdersSettings
from shop.orders.context import Orders
from shop.orders.emails import OrderEmails
from shop.orders.models import outbox
from shop.orders.payment_providers.registry import build_providers
from shop.orders.payments_api import router as payments_router
from shop.orders.pricing_api import router as pricing_router
from shop.orders.products_client import ProductsClient
from shop.orders.reconciler import reconciler_resource
from shop.orders.refunds_api import router as refunds_router
from shop.orders.sellable_cache import SellableCache


def orders_resource(settings: OrdersSettings) -> Resource:
    """What the use cases need (``app.state.orders``): the products client above all.
    List it after the database resource."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        timeout = httpx.Timeout(
            connect=settings.products_connect_timeout,
            read=settings.products_read_timeout,
            write=settings.products_read_timeout,
            pool=settings.products_connect_timeout,
        )
        # Every connection a burst of placements opens stays open for the next one.
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with create_http_client(
            timeout=timeout,
            limits=limits,
            transport=lean_transport(limits),
        ) as http:
            products = ProductsClient(
                http,
                settings.service_token,
                urls=settings.products_instances,
                eject_seconds=settings.products_eject_seconds,
                attempts=settings.products_retry_attempts,
                deadline=settings.products_deadline_seconds,
                connect_timeout=settings.products_connect_timeout,
                read_timeout=settings.products_read_timeout,
                breaker_failures=settings.products_breaker_failures,
                breaker_recovery=settings.products_breaker_recovery_seconds,
            )
            emails = OrderEmails(
                EmailRenderer("shop.orders"),
                settings.public_base_url,
                prices_include_tax=settings.prices_include_tax,
            )
            catalog = SellableCache(products, settings.cart_catalog_cache_seconds)
            payments = build_providers(settings)
            app.state.orders = Orders(
                app.state.sessionmaker, products, emails, settings, catalog, payments
            )
            try:
                yield {}
            finally:
                await payments.aclose()

    return resource


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()  # from the environment
    sender = create_email_sender(settings)
    return create_service_app(
        settings,
        title="Orders service",
        description="Order placement with stock reservation, lifecycle, tracking.",
        routers=[router, refunds_router, payments_router, pricing_router, carts_router],
        resources=[
            database_resource(settings),
            redis_resource(settings.redis_url),
            identity_resource(settings),
            orders_resource(settings),
            outbox_worker_resource(
                lambda app: OutboxWorker(
                    app.state.sessionmaker,
                    outbox,
                    {"email": email_handler(sender)},
                    poll_interval=settings.outbox_poll_seconds,
                    retention=timedelta(seconds=settings.outbox_retention_seconds),
                )
            ),
            reconciler_resource(lambda app: app.state.orders),
            cart_sweeper_resource(settings.cart_sweep_interval_seconds),
        ],
    )
