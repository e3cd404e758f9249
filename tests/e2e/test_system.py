"""The whole system as real processes, spoken to over HTTP through the gateway."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shop.cli.processes import port_is_free
from tests.e2e.system import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    SERVICES,
    RunningSystem,
    is_alive,
    start_system,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    root = tmp_path_factory.mktemp("system")
    running = start_system(root / "data", root / "shop-up.log")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_answers_the_platform_endpoints(system: RunningSystem, service: str) -> None:
    base = system.url(service)
    ready = httpx.get(base + "/health/ready", headers={"x-request-id": f"e2e-{service}"})
    assert ready.status_code == 200
    assert ready.headers["x-request-id"] == f"e2e-{service}"
    assert httpx.get(base + "/health/live").json() == {"status": "ok"}
    assert "http_requests_total" in httpx.get(base + "/metrics").text
    assert httpx.get(base + "/openapi.json").json()["openapi"].startswith("3.")
    missing = httpx.get(base + "/definitely/not/here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["x-request-id"]


def test_gateway_routes_to_each_service(system: RunningSystem) -> None:
    gateway = system.url()
    categories = httpx.get(gateway + "/api/v1/categories", headers={"x-request-id": "e2e-cat"})
    assert categories.status_code == 200
    assert categories.json() == {"items": []}
    assert categories.headers["x-request-id"] == "e2e-cat"

    orders = httpx.get(gateway + "/api/v1/orders")
    assert orders.status_code == 401
    assert orders.headers["www-authenticate"] == "Bearer"
    assert orders.headers["content-type"] == "application/problem+json"

    jwks = httpx.get(gateway + "/api/v1/auth/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.json()["keys"][0]["alg"] == "EdDSA"


def _link_token(mail_dir: Path, to: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for path in mail_dir.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            body = message.get_body(("plain",))
            if message["To"] == to and body is not None:
                match = re.search(r"token=([\w-]+)", body.get_content())
                assert match is not None
                return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no email to {to}")


def test_a_customer_signs_up_and_is_recognised_by_every_service(system: RunningSystem) -> None:
    api = system.url() + "/api/v1"
    address = "grace@example.com"
    password = "a long and unusual passphrase"
    registered = httpx.post(
        api + "/auth/register",
        json={"email": address, "password": password, "full_name": "Grace Hopper"},
    )
    assert registered.status_code == 201, registered.text
    token = _link_token(system.data_dir / "mail", address)
    verified = httpx.post(api + "/auth/verify-email", json={"token": token})
    assert verified.json()["email_verified"] is True
    tokens = httpx.post(api + "/auth/login", json={"email": address, "password": password}).json()
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}

    # The orders service verifies the token itself, against the auth service's JWKS.
    orders = httpx.get(api + "/orders", headers=bearer)
    assert orders.status_code == 200, orders.text
    assert httpx.get(api + "/auth/me", headers=bearer).json()["email"] == address

    assert httpx.post(api + "/auth/logout", headers=bearer).status_code == 204
    # Revoked everywhere at once: at the gateway, and at a service reached directly.
    at_gateway = httpx.get(api + "/orders", headers=bearer)
    assert at_gateway.status_code == 401
    assert at_gateway.headers["www-authenticate"].startswith("Bearer")
    direct = httpx.get(system.url("orders") + "/api/v1/orders", headers=bearer)
    assert direct.status_code == 401


def test_gateway_serves_the_merged_api(system: RunningSystem) -> None:
    document = httpx.get(system.url() + "/openapi.json").json()
    paths = document["paths"]
    assert "/api/v1/categories" in paths
    assert "/api/v1/orders" in paths
    assert "/api/v1/auth/.well-known/jwks.json" in paths
    assert "/health/ready" in paths  # the gateway's own
    docs = httpx.get(system.url() + "/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_gateway_ready_depends_on_every_upstream(system: RunningSystem) -> None:
    checks = httpx.get(system.url() + "/health/ready").json()["checks"]
    assert checks == {
        "redis": "ok",
        "upstream:auth": "ok",
        "upstream:products": "ok",
        "upstream:orders": "ok",
        "upstream_health_checks": "ok",
    }


def _login(api: str, address: str, password: str) -> dict[str, str]:
    response = httpx.post(api + "/auth/login", json={"email": address, "password": password})
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def test_an_order_is_placed_read_and_cancelled_through_the_gateway(
    system: RunningSystem,
) -> None:
    api = system.url() + "/api/v1"
    admin = _login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    category = httpx.post(api + "/categories", json={"name": "Lamps"}, headers=admin)
    assert category.status_code == 201, category.text
    created = httpx.post(
        api + "/products",
        json={
            "sku": "LAMP-1",
            "name": "Desk Lamp",
            "price": 4500,
            "category_id": category.json()["id"],
            "status": "active",
            "initial_stock": 5,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]

    address, password = "linus@example.com", "another long and unusual passphrase"
    registered = httpx.post(
        api + "/auth/register",
        json={"email": address, "password": password, "full_name": "Linus"},
    )
    assert registered.status_code == 201, registered.text
    token = _link_token(system.data_dir / "mail", address)
    assert httpx.post(api + "/auth/verify-email", json={"token": token}).status_code == 200
    customer = _login(api, address, password)

    body = {
        "items": [{"product_id": product_id, "quantity": 2}],
        "shipping_address": {
            "name": "Linus",
            "line1": "1 Penguin Way",
            "city": "Helsinki",
            "postal_code": "00100",
            "country": "FI",
        },
    }
    placed = httpx.post(
        api + "/orders", json=body, headers={**customer, "Idempotency-Key": "e2e-order-1"}
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["status"], order["total"], order["currency"]) == ("confirmed", 9000, "USD")
    assert order["items"][0]["sku"] == "LAMP-1"
    assert httpx.get(api + f"/orders/{order['id']}", headers=customer).json() == order
    assert httpx.get(api + "/orders", headers=customer).json()["items"] == [order]
    assert httpx.get(api + f"/products/{product_id}").json()["available"] == 3
    # The service token guards the internal API, which the gateway does not route.
    internal = httpx.post(system.url() + f"/internal/v1/reservations/{order['id']}/restock")
    assert internal.status_code == 404

    cancelled = httpx.post(api + f"/orders/{order['id']}/cancel", headers=customer)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert httpx.get(api + f"/products/{product_id}").json()["available"] == 5


def test_a_crashed_service_is_reported_and_restarted(system: RunningSystem) -> None:
    products = next(
        p for p in system.descendants() if "serve" in p.cmdline() and "products" in p.cmdline()
    )
    products.kill()
    products.wait(10)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(system.url("products") + "/health/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        pytest.fail("products was not restarted")
    assert "SERVICE CRASHED; RESTARTING" in system.log()
    # The gateway learns of the restart on its next health poll (every few seconds):
    # the whole system is back when the gateway says so, and later tests start from there.
    deadline = time.monotonic() + 30
    while httpx.get(system.url() + "/health/ready", timeout=2).status_code != 200:
        if time.monotonic() > deadline:
            pytest.fail("the gateway never saw products come back")
        time.sleep(0.2)
    assert httpx.get(system.url() + "/api/v1/categories").status_code == 200


def test_an_empty_shop_says_how_to_fill_it_and_probes_leave_the_log_quiet(
    system: RunningSystem,
) -> None:
    assert httpx.get(system.url() + "/health/ready").status_code == 200
    assert httpx.get(system.url() + "/api/v1/categories").status_code == 200
    log = system.log()
    banner = log[log.index("The shop is up:") : log.index("Press Ctrl-C to stop.")]
    assert "The catalog is empty. Load the demo catalog" in banner
    assert ".venv/bin/shop seed-demo" in banner
    assert "No admin can sign in" not in banner  # BOOTSTRAP_ADMIN_* made one
    # The gateway's health checks poll every upstream every few seconds: no access line
    # at info for them, or for the probe above, while other requests keep theirs.
    requests = [json.loads(line) for line in log.splitlines() if '"event": "request"' in line]
    assert any(line["path"] == "/api/v1/categories" for line in requests)
    assert not [line for line in requests if line["path"].startswith("/health/")]


@pytest.mark.resilience  # two whole starts, minutes on a loaded machine
def test_ctrl_c_stops_everything_and_a_second_start_reuses_the_data(tmp_path: Path) -> None:
    """With `--demo` (make demo): the first start loads the demo catalog, the second
    finds it there."""
    data_dir = tmp_path / "data"
    first = start_system(data_dir, tmp_path / "first.log", up_args=["--demo", "12"])
    assert "Demo catalog: Created 38 categories, 12 products, 12 images;" in first.log()
    assert "The catalog is empty" not in first.log()
    children = first.descendants()
    assert len(children) >= 7  # five services, PostgreSQL (and its workers), Redis
    assert first.stop(signal.SIGINT) == 0
    assert not [p.pid for p in children if is_alive(p)]
    assert all(port_is_free("127.0.0.1", port) for port in first.ports.values())
    assert not (data_dir / "runtime.env").exists()

    second = start_system(data_dir, tmp_path / "second.log", up_args=["--demo", "12"])
    children = second.descendants()
    try:
        assert "initialising embedded postgresql" not in second.log()
        assert "Demo catalog: all 12 products were already there" in second.log()
        categories = httpx.get(second.url() + "/api/v1/categories")
        assert categories.status_code == 200
        assert len(categories.json()["items"]) == 38
    finally:
        exit_code = second.stop(signal.SIGTERM)
    assert exit_code == 0
    assert not [p.pid for p in children if is_alive(p)]
