"""The service token is at least 32 random bytes: products and orders refuse to start
with a shorter one or a placeholder from the repository, saying why (never the value);
`shop up` makes a strong one."""

from __future__ import annotations

import base64
import re
import secrets
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from shop.cli.supervisor import stored_service_token
from shop.kit.service_auth import generate_service_token
from shop.orders.config import OrdersSettings
from shop.products.config import ProductsSettings
from tests.kit.service_process import clean_environment, shop_serve

ROOT = Path(__file__).resolve().parents[2]
DATABASE_URL = "postgresql://shop:pw@127.0.0.1:1/unused"


def example_tokens() -> list[str]:
    """Every SERVICE_TOKEN value the repository's examples show (uncommented or not)."""
    found = ["dev-only-service-token-not-for-production", "REPLACE_ME"]  # as once shipped
    secret = yaml.safe_load((ROOT / "deploy/kubernetes/secret.example.yaml").read_text())
    found.append(secret["stringData"]["service-token"])
    for path in (ROOT / ".env.example", ROOT / "compose.yaml"):
        found += re.findall(r"SERVICE_TOKEN[=:]\s*\$?\{?SERVICE_TOKEN:-([^}\s]+)", path.read_text())
        found += list(re.findall(r"^#?\s*SERVICE_TOKEN=(\S+)", path.read_text(), re.M))
    return found


# Named, not shown: random values would make xdist workers collect different test IDs.
WEAK = {
    **{f"example-{n}": token for n, token in enumerate(example_tokens())},
    "typed": "a-token",
    "24-bytes-as-shop-up-made": secrets.token_urlsafe(24),
    "31-bytes-hex": secrets.token_hex(31),
    "31-bytes-base64": secrets.token_urlsafe(31),
    "one-character": "a" * 80,
    "ten-characters": "0123456789" * 6,
    "a-phrase": "my-own-service-token-that-i-typed-myself-for-prod",
}
STRONG = {
    "generated": generate_service_token(),
    "hex": secrets.token_hex(32),  # openssl rand -hex 32
    "48-bytes": secrets.token_urlsafe(48),
    "base64": base64.b64encode(secrets.token_bytes(32)).decode(),  # openssl rand -base64 32
}


def settings(kind: type[Any], token: str | None) -> Any:
    database = "PRODUCTS_DATABASE_URL" if kind is ProductsSettings else "ORDERS_DATABASE_URL"
    return kind(_env_file=None, service_token=token, **{database: DATABASE_URL})


@pytest.mark.parametrize("kind", [ProductsSettings, OrdersSettings])
@pytest.mark.parametrize("name", WEAK)
def test_a_weak_or_placeholder_token_is_refused(kind: type[Any], name: str) -> None:
    token = WEAK[name]
    with pytest.raises(ValidationError) as refused:
        settings(kind, token)
    (error,) = refused.value.errors()
    assert error["loc"] == ("service_token",)
    message = str(refused.value)
    assert "SERVICE_TOKEN" in message
    assert "openssl rand -hex 32" in message  # how to make a good one
    assert token not in message  # no secret, even a weak one, in an error


@pytest.mark.parametrize("kind", [ProductsSettings, OrdersSettings])
@pytest.mark.parametrize("name", STRONG)
def test_32_random_bytes_are_accepted(kind: type[Any], name: str) -> None:
    token = STRONG[name]
    assert settings(kind, token).service_token.get_secret_value() == token


@pytest.mark.parametrize("kind", [ProductsSettings, OrdersSettings])
@pytest.mark.parametrize("token", [None, "", "   "])
def test_no_token_leaves_the_internal_api_closed(kind: type[Any], token: str | None) -> None:
    assert settings(kind, token).service_token is None


def test_the_examples_offer_no_usable_token() -> None:
    assert "REPLACE_ME" in example_tokens()
    compose = (ROOT / "compose.yaml").read_text()
    assert "${SERVICE_TOKEN:?" in compose
    assert "${SERVICE_TOKEN:-" not in compose


@pytest.mark.parametrize(("service", "database"), [("products", "PRODUCTS"), ("orders", "ORDERS")])
def test_the_service_refuses_to_start_with_a_weak_token(
    tmp_path: Path, service: str, database: str
) -> None:
    token = secrets.token_urlsafe(24)
    env = clean_environment(
        SERVICE_TOKEN=token,
        **{f"{database}_DATABASE_URL": DATABASE_URL, f"{database}_PORT": "0"},
    )
    result = subprocess.run(
        shop_serve(service), env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False
    )
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 3, output
    assert f"shop serve {service}: refusing to start" in output
    assert "SERVICE_TOKEN must be at least 32 random bytes" in output
    assert token not in output
    assert "Traceback" not in output


def test_shop_up_makes_a_strong_token_and_replaces_a_short_one(tmp_path: Path) -> None:
    made = stored_service_token(tmp_path)
    path = tmp_path / "service.token"
    assert len(made) >= 43
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stored_service_token(tmp_path) == made  # kept

    path.write_text(secrets.token_urlsafe(24))  # made by an older version
    replaced = stored_service_token(tmp_path)
    assert replaced != made
    assert len(replaced) >= 43
    settings(ProductsSettings, replaced)  # accepted
