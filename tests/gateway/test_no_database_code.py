"""The gateway process loads no database code: not SQLAlchemy, not the driver, not
Alembic, whether tracing is off or on (an instrumentation loads what it patches)."""

from __future__ import annotations

from pathlib import Path

from tests.kit.fresh_interpreter import packages_loaded_by

DATABASE_CODE = ("sqlalchemy", "asyncpg", "alembic")


def test_importing_the_gateway_loads_no_database_code(tmp_path: Path) -> None:
    assert packages_loaded_by("import shop.gateway.app", DATABASE_CODE, tmp_path) == []


def test_the_gateway_app_with_tracing_on_loads_no_database_code(tmp_path: Path) -> None:
    # Nothing listens there: no span is ever exported, as no request is made.
    statements = "from shop.gateway.app import create_app\ncreate_app()"
    tracing_on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert packages_loaded_by(statements, DATABASE_CODE, tmp_path, **tracing_on) == []


def test_the_probe_sees_a_service_that_has_a_database(tmp_path: Path) -> None:
    assert "sqlalchemy" in packages_loaded_by("import shop.orders.app", DATABASE_CODE, tmp_path)
