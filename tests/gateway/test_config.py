"""Gateway settings from the environment: upstream URLs are comma-separated lists."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from shop.gateway.app import create_app
from shop.gateway.config import GatewaySettings
from tests.gateway.services import dead_url
from tests.support import app_client


@pytest.fixture(autouse=True)
def no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variables a test sets: no .env from the working directory."""
    monkeypatch.chdir(tmp_path)
    for name in ("AUTH_URLS", "PRODUCTS_URLS", "ORDERS_URLS", "UPSTREAM_READ_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


def test_comma_separated_urls_are_split_and_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCTS_URLS", " http://10.0.0.1:3002/ ,http://10.0.0.2:3002,, ")
    settings = GatewaySettings()
    assert settings.products_urls == ["http://10.0.0.1:3002", "http://10.0.0.2:3002"]


def test_single_url_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_URLS", "http://auth.internal:8080")
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "2.5")
    settings = GatewaySettings()
    assert settings.upstream_urls() == {
        "auth": ["http://auth.internal:8080"],
        "products": ["http://127.0.0.1:3002"],
        "orders": ["http://127.0.0.1:3003"],
        "admin": ["http://127.0.0.1:3004"],
    }
    assert settings.upstream_read_timeout == 2.5


@pytest.mark.parametrize("value", ["", " ", " , ,"])
def test_a_service_without_urls_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ORDERS_URLS", value)
    with pytest.raises(ValidationError, match="at least one upstream URL"):
        GatewaySettings()


def test_read_timeout_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "0")
    with pytest.raises(ValidationError):
        GatewaySettings()


async def test_the_gateway_routes_to_the_urls_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, services: dict[str, str]
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("PRODUCTS_URLS", f"{dead_url()}, {services['products']}/")
    async with app_client(create_app()) as gateway:
        responses = [await gateway.get("/api/v1/products/1") for _ in range(2)]
    assert [r.json()["service"] for r in responses] == ["products", "products"]
