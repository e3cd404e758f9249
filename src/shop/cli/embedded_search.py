"""An embedded single-node OpenSearch for laptops and tests (tools/search-node).

The node is built from Maven Central by ``make search-node`` (or here, the first
time it is needed, when Maven is on the PATH): Java 17+ runs it with the jars
in the local Maven repository, on loopback only, security off, its heap
bounded. Its data stays under ``data_dir/opensearch``. Without Java or Maven
:class:`SearchNodeUnavailableError` says what to install.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx
import structlog

from shop.cli.embedded import EmbeddedServerError
from shop.cli.processes import free_port, spawn, stop

log = structlog.get_logger("shop.embedded")

SEARCH_NODE_DIR = Path(__file__).resolve().parents[3] / "tools" / "search-node"
MAIN_CLASS = "shop.searchnode.SearchNode"
MIN_JAVA = 17
# Bounded for a shared machine: the node's heap, and the JIT's C1 only (a quicker start).
JVM_OPTIONS = ("-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
INSTALL_HINT = (
    "install Java 17+ and Maven 3.8+ (Debian/Ubuntu: `sudo apt-get install -y"
    " openjdk-17-jdk-headless maven`; macOS: `brew install openjdk@17 maven`),"
    " or set OPENSEARCH_URL to a server of yours"
)


class SearchNodeUnavailableError(EmbeddedServerError):
    """The node cannot be built or run here (no Java, no Maven, no source tree)."""


def java_major_version(java: str) -> int | None:
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def _java() -> str:
    java = shutil.which("java")
    version = java_major_version(java) if java else None
    if java is None or version is None or version < MIN_JAVA:
        found = f"Java {version}" if version else "no Java"
        raise SearchNodeUnavailableError(
            f"the OpenSearch node needs Java 17+ ({found}): " + INSTALL_HINT
        )
    return java


def node_classpath(source: Path = SEARCH_NODE_DIR, *, build: bool = True) -> str:
    """The node's class path, building it first if its sources are newer."""
    built = source / "target" / "classpath.txt"
    jar = source / "target" / "search-node-1.jar"
    pom = source / "pom.xml"
    if not pom.exists():
        raise SearchNodeUnavailableError(
            f"{source} is missing: the OpenSearch node is built from the source checkout"
        )
    sources = [pom, *source.glob("src/main/java/**/*.java")]
    fresh = built.exists() and jar.exists()
    if fresh and max(p.stat().st_mtime for p in sources) <= built.stat().st_mtime:
        return f"{jar}:{built.read_text().strip()}"
    if not build:
        raise SearchNodeUnavailableError("the OpenSearch node is not built: run `make search-node`")
    maven = shutil.which("mvn")
    if maven is None:
        raise SearchNodeUnavailableError(
            "the OpenSearch node is built with Maven, which is missing: " + INSTALL_HINT
        )
    _java()
    log.info("building the opensearch node with maven (the first build downloads its jars)")
    result = subprocess.run(
        ["nice", maven, "-q", "-B", "package"], cwd=source, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise EmbeddedServerError(f"mvn package failed: {(result.stdout + result.stderr)[-2000:]}")
    return f"{jar}:{built.read_text().strip()}"


class EmbeddedOpenSearch:
    """A single OpenSearch node on loopback with its data under ``data_dir/opensearch``."""

    def __init__(self, data_dir: Path, port: int | None = None, *, build: bool = True) -> None:
        self.root = data_dir.resolve() / "opensearch"
        self.port = port or free_port()
        self.build = build
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.root / "node.log"

    def launch(self) -> None:
        """Starts the process and returns at once (see :meth:`wait_ready`)."""
        classpath = node_classpath(build=self.build)
        java = _java()
        self.root.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded opensearch", port=self.port)
        self._log = self.log_file.open("ab")
        self.process = spawn(
            [java, *JVM_OPTIONS, "-cp", classpath, MAIN_CLASS, str(self.port), str(self.root)],
            stdout=self._log.fileno(),
        )

    def ready(self) -> bool:
        try:
            response = httpx.get(self.url() + "/_cluster/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json()["status"] in ("green", "yellow")

    def wait_ready(self, timeout: float = 240.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise EmbeddedServerError(
                    f"OpenSearch exited with code {self.process.returncode}; see {self.log_file}"
                )
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"OpenSearch was not ready within {timeout:.0f} s")
            time.sleep(0.25)

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def stop(self) -> None:
        if self.process is not None:
            log.info("stopping embedded opensearch")
            stop(self.process, signal.SIGTERM, timeout=40)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
