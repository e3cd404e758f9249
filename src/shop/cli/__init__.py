"""The ``shop`` command: run, serve and migrate the system.

shop up                       the whole system in the foreground
shop serve SERVICE [--reload] one service (containers, scaling out)
shop migrate [SERVICE ...]    apply migrations
shop makemigrations SERVICE MESSAGE   autogenerate a migration (developers)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from shop.cli.services import DATABASE_SERVICES, SERVICES

    parser = argparse.ArgumentParser(prog="shop", description="The shop's command line.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("up", help="start the whole system in the foreground")

    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--reload", action="store_true", help="restart on code changes")

    databases = sorted(spec.name for spec in DATABASE_SERVICES)
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*", choices=[*databases, []], metavar="SERVICE")

    admin = commands.add_parser("create-admin", help="create an admin or promote a user")
    admin.add_argument("email")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )

    make = commands.add_parser("makemigrations", help="autogenerate a migration from the models")
    make.add_argument("service", choices=databases)
    make.add_argument("message")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from shop.cli.config import CliSettings
    from shop.kit.logging import configure_logging

    settings = CliSettings()
    if args.command != "serve":
        configure_logging("shop", settings.log_format)

    if args.command == "up":
        from shop.cli.supervisor import up

        return up(settings)
    if args.command == "serve":
        from shop.cli.serve import serve

        return serve(args.service, reload=args.reload)
    if args.command == "migrate":
        from shop.cli.system import data_layer, migrate

        with data_layer(settings, need_redis=False, services=args.services or None) as env:
            migrate(env, args.services or None)
        return 0
    if args.command == "create-admin":
        from shop.cli.admin import AdminInputError, create_admin, read_password

        try:
            create_admin(settings, args.email, read_password(args.password_stdin))
        except AdminInputError as exc:
            print(f"shop create-admin: {exc}", file=sys.stderr)
            return 2
        print(f"{args.email} is an admin.")
        return 0
    if args.command == "makemigrations":
        from shop.cli.services import SERVICES
        from shop.cli.system import data_layer, migrate
        from shop.kit import migrations

        spec = SERVICES[args.service]
        with data_layer(settings, need_redis=False, services=[spec.name]) as env:
            migrate(env, [spec.name])
            migrations.revision(
                spec.migrations, env[f"{spec.env_prefix}_DATABASE_URL"], args.message
            )
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
