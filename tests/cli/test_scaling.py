"""`shop up --scale`: what it accepts, and the ports the instances get."""

from __future__ import annotations

import argparse
import socket

import pytest

from shop.cli.config import CliSettings
from shop.cli.scaling import instance_ports, scale_argument
from shop.cli.serve import shared_socket
from shop.cli.supervisor import _children
from shop.kit.service_auth import generate_service_token


def test_one_or_several_services_per_flag() -> None:
    assert scale_argument("products=2") == {"products": 2}
    assert scale_argument("products=3, auth=2") == {"products": 3, "auth": 2}
    assert scale_argument("gateway=2") == {"gateway": 2}


@pytest.mark.parametrize("value", ["nope=2", "products", "products=0", "products=x", "auth=17"])
def test_what_is_refused(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        scale_argument(value)


def test_extra_instances_take_free_ports_above_the_services_own() -> None:
    settings = CliSettings(
        gateway_port=24100,
        auth_port=24101,
        products_port=24102,
        orders_port=24103,
        admin_port=24104,
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 24105))
        taken.listen()
        ports = instance_ports(settings, {"products": 3, "orders": 2})
    assert ports["gateway"] == [24100]
    assert ports["auth"] == [24101]
    assert ports["products"][0] == 24102
    assert ports["orders"][0] == 24103
    assert ports["admin"] == [24104]
    extra = ports["products"][1:] + ports["orders"][1:]
    # In order, each above the last, none taken (24105 is; others may be, by chance).
    assert len(extra) == 3
    assert 24105 < extra[0] < extra[1] < extra[2]


def test_the_gateways_instances_share_its_port_and_listen_with_reuse_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVICE_TOKEN", generate_service_token())
    settings = CliSettings(
        gateway_port=24100,
        auth_port=24101,
        products_port=24102,
        orders_port=24103,
        admin_port=24104,
    )
    ports = instance_ports(settings, {"gateway": 3, "products": 2})
    assert ports["gateway"] == [24100] * 3
    assert len(set(ports["products"])) == 2
    children = _children(settings, {}, ports)
    gateways = [c for c in children if c.spec.name == "gateway"]
    assert [(c.label, c.port) for c in gateways] == [
        ("gateway-1", 24100),
        ("gateway-2", 24100),
        ("gateway-3", 24100),
    ]
    assert all(c.env["REUSE_PORT"] == "true" for c in gateways)
    assert all("REUSE_PORT" not in c.env for c in children if c.spec.name != "gateway")


def test_shared_sockets_listen_on_one_port_together_and_plain_ones_do_not() -> None:
    first = shared_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    with first, shared_socket("127.0.0.1", port) as second:
        assert second.getsockname()[1] == port
        with socket.socket() as plain, pytest.raises(OSError, match="in use"):
            plain.bind(("127.0.0.1", port))


def test_the_gateway_gets_every_instance_and_each_instance_its_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AUTH_URLS", "PRODUCTS_URLS", "ORDERS_URLS", "ADMIN_URLS", "PRODUCTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ADMIN_API_URL", raising=False)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv(
        "SERVICE_TOKEN", generate_service_token()
    )  # else read from (made in) the data dir
    settings = CliSettings(bind_host="127.0.0.1")
    ports = {
        "auth": [3001],
        "products": [3002, 3005],
        "orders": [3003],
        "admin": [3004],
        "gateway": [3000],
    }
    children = _children(settings, {}, ports)
    assert [(c.label, c.port) for c in children] == [
        ("auth", 3001),
        ("products-1", 3002),
        ("products-2", 3005),
        ("orders", 3003),
        ("admin", 3004),
        ("gateway", 3000),
    ]
    gateway = children[-1].env
    assert gateway["PRODUCTS_URLS"] == "http://127.0.0.1:3002,http://127.0.0.1:3005"
    assert gateway["AUTH_URLS"] == "http://127.0.0.1:3001"
    assert gateway["ADMIN_URLS"] == "http://127.0.0.1:3004"
    assert [c.env["PRODUCTS_PORT"] for c in children if c.spec.name == "products"] == [
        "3002",
        "3005",
    ]
    # The dashboard calls the public API through the gateway, as any client does.
    admin = next(c.env for c in children if c.spec.name == "admin")
    assert admin["ADMIN_API_URL"] == "http://127.0.0.1:3000"
    # Picture URLs and email links name the gateway's address.
    assert {c.env["PUBLIC_BASE_URL"] for c in children} == {"http://127.0.0.1:3000"}
    # orders calls every products instance, failing over between them.
    orders = next(c.env for c in children if c.spec.name == "orders")
    assert orders["PRODUCTS_URLS"] == "http://127.0.0.1:3002,http://127.0.0.1:3005"
    assert "PRODUCTS_URL" not in orders


def test_pictures_and_email_links_name_the_gateway_on_its_own_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("SERVICE_TOKEN", generate_service_token())
    ports = {"auth": [3001], "products": [3002], "orders": [3003], "admin": [3004]}
    for bind_host in ("127.0.0.1", "0.0.0.0"):  # noqa: S104 - bound to every address
        settings = CliSettings(bind_host=bind_host, gateway_port=8080)
        children = _children(settings, {}, {**ports, "gateway": [8080]})
        assert {c.env["PUBLIC_BASE_URL"] for c in children} == {"http://127.0.0.1:8080"}
    # An address of the operator's own is kept.
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://shop.example")
    children = _children(CliSettings(bind_host="127.0.0.1"), {}, {**ports, "gateway": [3000]})
    assert {c.env["PUBLIC_BASE_URL"] for c in children} == {"https://shop.example"}


def test_a_products_url_of_the_callers_own_still_names_the_one_products_orders_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AUTH_URLS", "PRODUCTS_URLS", "ORDERS_URLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRODUCTS_URL", "http://products.example:3002")
    monkeypatch.setenv("SERVICE_TOKEN", generate_service_token())
    settings = CliSettings(bind_host="127.0.0.1")
    ports = {
        "auth": [3001],
        "products": [3002, 3005],
        "orders": [3003],
        "admin": [3004],
        "gateway": [3000],
    }
    children = {c.label: c.env for c in _children(settings, {}, ports)}
    assert children["orders"]["PRODUCTS_URL"] == "http://products.example:3002"
    assert "PRODUCTS_URLS" not in children["orders"]
    assert children["gateway"]["PRODUCTS_URLS"] == "http://127.0.0.1:3002,http://127.0.0.1:3005"
