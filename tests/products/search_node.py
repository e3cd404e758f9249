"""The OpenSearch node of a test run (tools/search-node), and how tests reach it.

The first pytest process (the xdist controller, or pytest alone) launches one
node per run, without waiting for it, when the run includes the search tests;
its URL goes to the workers in ``TEST_OPENSEARCH_URL``. Tests that need it ask
for the ``opensearch_url`` fixture, which waits until it answers. Where Java or
Maven is missing they skip, saying so. ``TEST_OPENSEARCH_URL`` set by hand
points the tests at a node of one's own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from shop.cli.embedded import EmbeddedServerError
from shop.cli.embedded_search import EmbeddedOpenSearch, SearchNodeUnavailableError

URL_VARIABLE = "TEST_OPENSEARCH_URL"
UNAVAILABLE_VARIABLE = "TEST_OPENSEARCH_UNAVAILABLE"
SEARCH_TESTS = Path(__file__).resolve().parent
START_TIMEOUT = 300.0  # a cold JVM on a busy two-core machine


def _run_includes_search_tests(config: pytest.Config) -> bool:
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == SEARCH_TESTS or path in SEARCH_TESTS.parents:
            return True
        if path.parent == SEARCH_TESTS and path.name.startswith("test_search_"):
            return True
    return False


def launch_for_run(config: pytest.Config, servers: ExitStack) -> None:
    """In the first pytest process: launch the run's node if the run needs one."""
    if os.environ.get(URL_VARIABLE) or not _run_includes_search_tests(config):
        return
    data_dir = Path(tempfile.mkdtemp(prefix="shop-test-opensearch-"))
    servers.callback(shutil.rmtree, data_dir, ignore_errors=True)
    node = EmbeddedOpenSearch(data_dir)
    try:
        node.launch()
    except SearchNodeUnavailableError as exc:
        os.environ[UNAVAILABLE_VARIABLE] = str(exc)
        return
    servers.callback(node.stop)
    os.environ[URL_VARIABLE] = node.url()


def wait_until_answers(url: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = httpx.get(f"{url}/_cluster/health", timeout=2.0)
            if health.status_code == 200 and health.json()["status"] in ("green", "yellow"):
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the test OpenSearch node at {url} did not answer in {timeout:.0f} s")
        time.sleep(0.25)


@pytest.fixture(scope="session")
def opensearch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The run's OpenSearch node (or one of this worker's own, if the run did not
    start one), answering."""
    unavailable = os.environ.get(UNAVAILABLE_VARIABLE)
    if unavailable:
        pytest.skip(f"no OpenSearch node: {unavailable}")
    url = os.environ.get(URL_VARIABLE)
    if url:
        wait_until_answers(url)
        yield url
        return
    node = EmbeddedOpenSearch(tmp_path_factory.mktemp("opensearch"))
    try:
        node.start()
    except SearchNodeUnavailableError as exc:
        pytest.skip(f"no OpenSearch node: {exc}")
    except EmbeddedServerError:
        node.stop()
        raise
    try:
        yield node.url()
    finally:
        node.stop()
