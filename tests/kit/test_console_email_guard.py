"""The console email backend, which logs every link it sends, runs only in development."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shop.cli.config import CliSettings
from shop.cli.supervisor import _children
from shop.kit.email import (
    ConsoleEmailOutsideDevelopmentError,
    ConsoleEmailSender,
    EmailSettings,
    create_email_sender,
)


@pytest.fixture
def no_shop_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("SHOP_ENV", "EMAIL_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no developer's .env
    return monkeypatch


def test_the_console_backend_is_refused_unless_the_environment_is_development(
    no_shop_env: pytest.MonkeyPatch,
) -> None:
    unset = EmailSettings(email_backend="console")
    assert unset.environment == "production"
    with pytest.raises(ConsoleEmailOutsideDevelopmentError, match="SHOP_ENV=development"):
        create_email_sender(unset)
    with pytest.raises(ConsoleEmailOutsideDevelopmentError):
        create_email_sender(EmailSettings(email_backend="console", SHOP_ENV="production"))
    no_shop_env.setenv("SHOP_ENV", "development")
    assert isinstance(create_email_sender(EmailSettings()), ConsoleEmailSender)


@pytest.mark.parametrize("service", ["auth", "orders"])
def test_a_service_with_the_console_backend_does_not_start_outside_development(
    service: str, tmp_path: Path
) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SHOP_", "EMAIL_", "AUTH_", "ORDERS_"))
    }
    env |= {
        "EMAIL_BACKEND": "console",
        "SHOP_DATA_DIR": str(tmp_path),
        # Never reached: the app is refused before it connects to anything.
        f"{service.upper()}_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        f"{service.upper()}_PORT": "9",
    }
    started = subprocess.run(
        [sys.executable, "-m", "shop", "serve", service],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 2, started.stderr
    assert "shop: EMAIL_BACKEND=console writes every email" in started.stderr
    assert "allowed only with SHOP_ENV=development" in started.stderr
    assert "Traceback" not in started.stderr


def test_shop_up_runs_its_services_in_development_unless_told_otherwise(
    no_shop_env: pytest.MonkeyPatch,
) -> None:
    no_shop_env.setenv("SERVICE_TOKEN", "a-token")
    ports = {
        "gateway": [24100],
        "auth": [24101],
        "products": [24102],
        "orders": [24103],
        "admin": [24104],
    }
    children = _children(CliSettings(), {}, ports)
    assert {child.env["SHOP_ENV"] for child in children} == {"development"}

    no_shop_env.setenv("SHOP_ENV", "production")
    children = _children(CliSettings(), {}, ports)
    assert {child.env["SHOP_ENV"] for child in children} == {"production"}
