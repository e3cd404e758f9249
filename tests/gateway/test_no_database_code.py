"""The gateway process loads no database code: not SQLAlchemy, not the driver, not
Alembic, whether tracing is off or on (an instrumentation loads what it patches).

Each probe runs in a fresh interpreter, as this test process has long loaded them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.kit.service_process import clean_environment

DATABASE_CODE = ("sqlalchemy", "asyncpg", "alembic")


def database_code_loaded_by(statements: str, workdir: Path, **environ: str) -> list[str]:
    """The database packages loaded once ``statements`` have run in a fresh interpreter."""
    found = workdir / "loaded.json"
    probe = (
        f"{statements}\n"
        "import json, pathlib, sys\n"
        f"names = sorted({{m.split('.')[0] for m in sys.modules}} & set({DATABASE_CODE!r}))\n"
        f"pathlib.Path({str(found)!r}).write_text(json.dumps(names))\n"
    )
    subprocess.run(
        [sys.executable, "-c", probe],
        env=clean_environment(**environ),
        cwd=workdir,  # no .env there
        capture_output=True,
        check=True,
        timeout=120,
    )
    loaded: list[str] = json.loads(found.read_text())
    return loaded


def test_importing_the_gateway_loads_no_database_code(tmp_path: Path) -> None:
    assert database_code_loaded_by("import shop.gateway.app", tmp_path) == []


def test_the_gateway_app_with_tracing_on_loads_no_database_code(tmp_path: Path) -> None:
    # Nothing listens there: no span is ever exported, as no request is made.
    statements = "from shop.gateway.app import create_app\ncreate_app()"
    tracing_on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert database_code_loaded_by(statements, tmp_path, **tracing_on) == []


def test_the_probe_sees_a_service_that_has_a_database(tmp_path: Path) -> None:
    assert "sqlalchemy" in database_code_loaded_by("import shop.orders.app", tmp_path)
