"""The data layer of `shop up` and `shop migrate`: configured URLs or embedded servers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import structlog
from alembic.util.exc import CommandError

from shop.cli.config import CliSettings
from shop.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from shop.cli.services import DATABASE_SERVICES
from shop.cli.startup_checks import StartupProblemError
from shop.kit import migrations

log = structlog.get_logger("shop.cli")


@contextmanager
def data_layer(
    settings: CliSettings, *, need_redis: bool = True, services: list[str] | None = None
) -> Iterator[dict[str, str]]:
    """Yields the environment that points the services (all, or those named) at their
    databases and Redis, starting the embedded servers for whatever has no URL."""
    env: dict[str, str] = {}
    wanted = [s for s in DATABASE_SERVICES if not services or s.name in services]
    with ExitStack() as stack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        missing = [s for s in wanted if not settings.database_url_of(s.name)]
        postgres = stack.enter_context(EmbeddedPostgres(settings.data_dir)) if missing else None
        for spec in wanted:
            url = settings.database_url_of(spec.name)
            if url is None:
                assert postgres is not None
                assert spec.database is not None
                postgres.create_database(spec.database)
                url = postgres.url(spec.database)
            env[f"{spec.env_prefix}_DATABASE_URL"] = url
        if need_redis:
            if settings.redis_url:
                env["REDIS_URL"] = settings.redis_url
            else:
                env["REDIS_URL"] = stack.enter_context(EmbeddedRedis(settings.data_dir)).url()
        yield env


def migrate(env: dict[str, str], services: list[str] | None = None) -> None:
    for spec in DATABASE_SERVICES:
        if services and spec.name not in services:
            continue
        log.info("migrating", service=spec.name)
        try:
            migrations.upgrade(spec.migrations, env[f"{spec.env_prefix}_DATABASE_URL"])
        except CommandError as exc:  # a revision this code lacks: a newer version's
            raise StartupProblemError(
                f"cannot migrate the {spec.name} database ({str(exc).rstrip('.')}): another"
                " version of the code migrated it; run that version, or start from an empty"
                " database (delete .data/ when the embedded PostgreSQL holds it)."
            ) from None
