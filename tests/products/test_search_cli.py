"""``shop search reindex`` without a search engine configured, or with the embedded
OpenSearch node (see test_search_engines.py for reindexing into a given one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.products.search_node import opensearch_url
from tests.support import Databases

__all__ = ["opensearch_url"]  # fixtures


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


def test_reindex_on_opensearch_without_java_says_what_to_install(
    tmp_path: Path, databases: Databases
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = shop(
        "search",
        "reindex",
        cwd=tmp_path,
        PATH=str(empty),  # no java, no mvn
        SEARCH_BACKEND="opensearch",
        PRODUCTS_DATABASE_URL=databases.urls["products"],
        SHOP_DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 2, result.stderr
    assert "install Java 17+ and Maven" in result.stderr
    assert "OPENSEARCH_URL" in result.stderr


@pytest.mark.resilience  # starts a node of its own: a JVM start, the slowest CLI test
def test_reindex_on_opensearch_without_a_url_starts_the_embedded_node(
    tmp_path: Path,
    databases: Databases,
    opensearch_url: str,  # skips where no node can run
) -> None:
    result = shop(
        "search",
        "reindex",
        cwd=tmp_path,
        SEARCH_BACKEND="opensearch",
        PRODUCTS_DATABASE_URL=databases.urls["products"],
        SHOP_DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 0, result.stderr
    assert "into products-" in result.stdout
    assert "starting embedded opensearch" in result.stderr + result.stdout
    assert (tmp_path / "data" / "opensearch" / "data").is_dir()  # its data stays there
