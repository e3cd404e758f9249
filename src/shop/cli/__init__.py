"""The ``shop`` command: run, serve and migrate the system.

shop up [--scale SERVICE=N] [--search BACKEND] [--demo [N]]
                              the whole system in the foreground
shop serve SERVICE [--reload] one service (containers, scaling out)
shop migrate [SERVICE ...]    apply migrations
shop makemigrations SERVICE MESSAGE   autogenerate a migration (developers)
shop seed-demo [--products N] [--no-images]
                              load the demo catalog (deterministic, idempotent)
shop search reindex           rebuild the search engine's index, then swap its alias
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _product_count(value: str) -> int:
    count = int(value) if value.isdigit() else -1
    if not 0 <= count <= 100_000:
        raise argparse.ArgumentTypeError("must be a whole number from 0 to 100000")
    return count


def _parser() -> argparse.ArgumentParser:
    from shop.cli.services import DATABASE_SERVICES, SERVICES

    parser = argparse.ArgumentParser(prog="shop", description="The shop's command line.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from shop.cli.scaling import scale_argument

    up = commands.add_parser("up", help="start the whole system in the foreground")
    up.add_argument(
        "--scale",
        type=scale_argument,
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N instances of a service (repeatable, or comma-separated); the gateway's"
        " share its port",
    )
    up.add_argument(
        "--search",
        choices=["postgres", "elasticsearch", "opensearch"],
        help="the search backend (default: SEARCH_BACKEND, else postgres); opensearch without"
        " OPENSEARCH_URL starts a local node (Java 17+ and Maven)",
    )

    up.add_argument(
        "--demo",
        type=_product_count,
        nargs="?",
        const=1200,
        metavar="N",
        help="load the demo catalog (N products, default 1200) before starting, unless it is"
        " there already (make demo)",
    )

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

    seed = commands.add_parser("seed-demo", help="load the demo catalog (idempotent)")
    seed.add_argument(
        "--products", type=_product_count, default=1200, metavar="N", help="default: 1200"
    )
    seed.add_argument(
        "--no-images",
        dest="images",
        action="store_false",
        help="draw no pictures (much faster for large catalogs; a later run adds them)",
    )

    make = commands.add_parser("makemigrations", help="autogenerate a migration from the models")
    make.add_argument("service", choices=databases)
    make.add_argument("message")

    search = commands.add_parser(
        "search", help="manage the search engine's product index (Elasticsearch or OpenSearch)"
    )
    search_commands = search.add_subparsers(dest="search_command", required=True, metavar="ACTION")
    search_commands.add_parser(
        "reindex", help="build a new index from the database and swap the alias to it"
    )
    return parser


def _main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from pydantic import ValidationError

    from shop.cli.config import CliSettings
    from shop.cli.startup_checks import StartupProblemError, settings_problem
    from shop.kit.logging import configure_logging

    try:
        settings = CliSettings()
    except ValidationError as exc:
        raise StartupProblemError(settings_problem(exc)) from None
    if args.command != "serve":
        configure_logging("shop", settings.log_format)

    if args.command == "up":
        from shop.cli.supervisor import up

        scale = {name: n for counts in args.scale for name, n in counts.items()}
        return up(settings, scale, args.search, args.demo)
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
    if args.command == "search":
        from shop.cli.search import SearchCommandError, reindex_command

        try:
            result = reindex_command(settings)
        except SearchCommandError as exc:
            print(f"shop search reindex: {exc}", file=sys.stderr)
            return exc.status
        print(f"Indexed {result.products} products into {result.index}, now {result.alias}.")
        return 0
    if args.command == "seed-demo":
        from shop.cli.seed import seed_demo

        print(seed_demo(settings, args.products, images=args.images).summary())
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


def main(argv: Sequence[str] | None = None) -> int:
    from shop.cli.embedded import MissingEmbeddedExtraError
    from shop.cli.startup_checks import StartupProblemError
    from shop.kit.email import ConsoleEmailOutsideDevelopmentError

    try:
        return _main(argv)
    # Set-up mistakes the message explains in full: no traceback.
    except (
        MissingEmbeddedExtraError,
        ConsoleEmailOutsideDevelopmentError,
        StartupProblemError,
    ) as exc:
        print(f"shop: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
