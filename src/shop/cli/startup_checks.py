"""Start-up mistakes told in one sentence with the fix, never a traceback: a bad
setting, a port in use, a database its code's migrations do not match."""

from __future__ import annotations

import structlog
from pydantic import ValidationError

from shop.cli.services import ServiceSpec

log = structlog.get_logger("shop.cli")


class StartupProblemError(RuntimeError):
    """A mistake in the set-up, its message the sentence to show."""


def settings_problem(exc: ValidationError) -> str:
    """Which settings are wrong and why, in one line (never their values)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"]).upper() or "a setting"
        if error["type"] == "missing":
            parts.append(f"{name} is required")
        else:
            reason = str(error["msg"]).removeprefix("Value error, ")
            parts.append(f"{name} is invalid ({reason.rstrip('.')})")
    return "; ".join(parts) + ". Set it in the environment or in .env."


def port_problem(service: str, host: str, port: int) -> str:
    return (
        f"port {port} on {host} ({service}) is in use: stop what listens there (is the shop"
        f" already running?) or set {service.upper()}_PORT to a free port."
    )


def migration_problem(spec: ServiceSpec, database_url: str) -> str | None:
    """Why the service's database is not ready for its code: not migrated to the code's
    migrations (``shop migrate`` first). None when it is, when the database cannot be
    reached now (readiness reports that, and the service starts anyway so it serves
    once the database is back), and when a newer version migrated it: migrations stay
    compatible with the previous release (expand, then contract), which must keep
    starting during a rollout and after a rollback."""
    from shop.kit import migrations  # alembic: only for the services with a database

    try:
        at = migrations.current(database_url)
    except Exception as exc:  # unreachable, refused, timed out: not this check's concern
        log.info("migrations not checked", service=spec.name, error=type(exc).__name__)
        return None
    wanted = migrations.heads(spec.migrations)
    if at == wanted:
        return None
    unknown = sorted(revision for revision in at if not migrations.known(spec.migrations, revision))
    if unknown:
        log.warning("the database is at a newer version's migrations", revisions=unknown)
        return None
    return (
        f"the database at {spec.env_prefix}_DATABASE_URL is not migrated for this code:"
        f" run `shop migrate {spec.name}` first."
    )
