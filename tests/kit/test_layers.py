"""The kit's low-level modules load nothing of the web app: a service's tables, and
the outbox's, import SQLAlchemy only (see docs/architecture.md, Layers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kit.fresh_interpreter import packages_loaded_by

WEB_APP = ("fastapi", "starlette", "opentelemetry", "jinja2", "httpx")


@pytest.mark.parametrize(
    "module", ["shop.auth.models", "shop.orders.models", "shop.products.models", "shop.kit.outbox"]
)
def test_tables_load_nothing_of_the_web_app(module: str, tmp_path: Path) -> None:
    loaded = packages_loaded_by(f"import {module}", (*WEB_APP, "sqlalchemy"), tmp_path)
    assert loaded == ["sqlalchemy"]


def test_the_probe_sees_the_web_app_in_an_app(tmp_path: Path) -> None:
    loaded = packages_loaded_by("import shop.kit.app", WEB_APP, tmp_path)
    assert {"fastapi", "starlette"} <= set(loaded)
