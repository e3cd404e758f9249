"""The four services running for real on the worker's databases and Redis, for the
schemathesis runs: auth, products and orders each behind uvicorn on loopback, the
gateway in front of them, and the credentials of a real verified customer and a real
admin (both made through the auth service, so every service checks genuine tokens)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import redis

from shop.auth.app import create_app as create_auth_app
from shop.gateway.app import create_app as create_gateway_app
from shop.gateway.config import GatewaySettings
from shop.kit.service_auth import generate_service_token
from shop.orders.app import create_app as create_orders_app
from shop.products.app import create_app as create_products_app
from tests.auth.conftest import API as AUTH_API
from tests.auth.conftest import PASSWORD, Mailbox, auth_settings
from tests.orders.support import ADDRESS, ORDERS_TABLES, orders_settings, products_settings
from tests.products.conftest import TABLES as PRODUCTS_TABLES
from tests.products.conftest import plain_url
from tests.support import Databases, served

SERVICE_TOKEN = generate_service_token()  # the services refuse a weak one
CUSTOMER = "resilience-customer@example.com"
ADMIN = "resilience-admin@example.com"
AUTH_TABLES = "users, refresh_tokens, one_time_tokens, outbox"
TOKEN_REFRESH_SECONDS = 300  # well within the access tokens' 900 s
GENEROUS = "100000/minute"  # the fuzzers must not be throttled into a wall of 429s


@dataclass(frozen=True)
class _JwksOf:
    """What the products and orders settings helpers read from their ``tokens``."""

    jwks_url: str
    redis_url: str


@dataclass
class Credentials:
    """Fresh access tokens by logging in, kept until a request may have revoked them.

    A fuzzed ``POST /logout`` with a real token does revoke it, so every request that
    could end a session (or change a password) drops the cached tokens."""

    auth_url: str
    _tokens: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _since: float = field(default_factory=time.monotonic)

    def token(self, email: str) -> str:
        with self._lock:
            if time.monotonic() - self._since > TOKEN_REFRESH_SECONDS:
                self._tokens.clear()
                self._since = time.monotonic()
            if email not in self._tokens:
                response = httpx.post(
                    f"{self.auth_url}{AUTH_API}/login",
                    json={"email": email, "password": PASSWORD},
                    timeout=10,
                )
                response.raise_for_status()
                self._tokens[email] = response.json()["access_token"]
            return self._tokens[email]

    def forget(self) -> None:
        with self._lock:
            self._tokens.clear()


@dataclass
class System:
    auth: str
    products: str
    orders: str
    gateway: str
    credentials: Credentials
    service_token: str = SERVICE_TOKEN
    # Path parameter name -> the ID of something that exists, for the cases to hit.
    known: dict[str, str] = field(default_factory=dict)

    def restore_customer(self) -> None:
        """The customer as seeded, whatever an admin's fuzzed ``PATCH /users/{id}`` did."""
        response = httpx.patch(
            f"{self.auth}{AUTH_API}/users/{self.known['user_id']}",
            json={"roles": ["customer"], "is_active": True},
            headers={"authorization": f"Bearer {self.credentials.token(ADMIN)}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        self.credentials.forget()

    def seed(self) -> None:
        """A category, an active product in stock, an order of the customer's."""
        admin = {"authorization": f"Bearer {self.credentials.token(ADMIN)}"}
        customer = {"authorization": f"Bearer {self.credentials.token(CUSTOMER)}"}
        with httpx.Client(timeout=10) as client:
            me = client.get(f"{self.auth}{AUTH_API}/me", headers=customer)
            category = client.post(
                f"{self.products}/api/v1/categories", json={"name": "Fuzzed"}, headers=admin
            )
            product = client.post(
                f"{self.products}/api/v1/products",
                json={
                    "sku": "FUZZ-1",
                    "name": "Fuzzed headphones",
                    "price": 1999,
                    "status": "active",
                    "category_id": category.json()["id"],
                    "initial_stock": 1_000_000,
                },
                headers=admin,
            )
            order = client.post(
                f"{self.orders}/api/v1/orders",
                json={
                    "items": [{"product_id": product.json()["id"], "quantity": 1}],
                    "shipping_address": ADDRESS,
                },
                headers=customer,
            )
        for response in (me, category, product, order):
            assert response.status_code in (200, 201), response.text
        self.known = {
            "user_id": me.json()["id"],
            "category_id": category.json()["id"],
            "product_id": product.json()["id"],
            "order_id": order.json()["id"],
        }


async def _empty(databases: Databases) -> None:
    for service, tables in (
        ("auth", AUTH_TABLES),
        ("products", PRODUCTS_TABLES),
        ("orders", ORDERS_TABLES),
    ):
        connection = await asyncpg.connect(plain_url(databases.urls[service]))
        try:
            await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        finally:
            await connection.close()


def empty(databases: Databases, redis_url: str) -> None:
    """The worker's databases and Redis as the other tests expect to find them."""
    asyncio.run(_empty(databases))
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def _verified_customer(auth_url: str, mailbox: Mailbox) -> None:
    with httpx.Client(base_url=f"{auth_url}{AUTH_API}", timeout=10) as client:
        response = client.post(
            "/register",
            json={"email": CUSTOMER, "password": PASSWORD, "full_name": "Grace Hopper"},
        )
        assert response.status_code == 201, response.text
        token = asyncio.run(mailbox.link_token(CUSTOMER))
        response = client.post("/verify-email", json={"token": token})
        assert response.status_code == 200, response.text


@contextmanager
def running_system(databases: Databases, redis_url: str, data_dir: Path) -> Iterator[System]:
    empty(databases, redis_url)
    with ExitStack() as stack:
        stack.callback(empty, databases, redis_url)
        settings = auth_settings(
            databases,
            redis_url,
            data_dir / "auth",
            bootstrap_admin_email=ADMIN,
            bootstrap_admin_password=PASSWORD,
            login_failure_limit=GENEROUS,
            login_failure_limit_account=GENEROUS,
            login_failure_limit_ip=GENEROUS,
            email_recipient_limit=GENEROUS,
        )
        auth = stack.enter_context(served(create_auth_app(settings)))
        _verified_customer(auth, Mailbox(settings.email_directory))
        keys = _JwksOf(f"{auth}{AUTH_API}/.well-known/jwks.json", redis_url)
        products = stack.enter_context(
            served(
                create_products_app(
                    products_settings(
                        databases,
                        keys,  # type: ignore[arg-type]
                        data_dir / "products",
                        service_token=SERVICE_TOKEN,
                    )
                )
            )
        )
        orders = stack.enter_context(
            served(
                create_orders_app(
                    orders_settings(
                        databases,
                        keys,  # type: ignore[arg-type]
                        data_dir / "orders",
                        products,
                        service_token=SERVICE_TOKEN,
                    )
                )
            )
        )
        gateway_settings = GatewaySettings(
            auth_urls=[auth],
            products_urls=[products],
            orders_urls=[orders],
            jwks_url=keys.jwks_url,
            redis_url=redis_url,
            rate_limit_default=GENEROUS,
            rate_limit_auth=GENEROUS,
            log_format="json",
            _env_file=None,  # type: ignore[call-arg]
        )
        gateway = stack.enter_context(served(create_gateway_app(gateway_settings)))
        system = System(auth, products, orders, gateway, Credentials(auth))
        system.seed()
        yield system
