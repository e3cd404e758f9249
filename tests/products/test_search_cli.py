"""``shop search reindex`` without Elasticsearch configured (see test_search_elasticsearch.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def shop(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The command line, as a shell runs it."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ELASTICSEARCH_", "OPENSEARCH_", "SEARCH_BACKEND"))
    }
    environment |= {"LOG_FORMAT": "json", **env}
    return subprocess.run(
        [sys.executable, "-m", "shop", *args],
        cwd=cwd,  # no developer's .env
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_reindex_needs_an_elasticsearch_url(tmp_path: Path) -> None:
    result = shop("search", "reindex", cwd=tmp_path, SHOP_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 2, result.stderr
    assert "ELASTICSEARCH_URL is not set" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


def test_search_needs_an_action(tmp_path: Path) -> None:
    result = shop("search", cwd=tmp_path)
    assert result.returncode == 2
    assert "ACTION" in result.stderr
