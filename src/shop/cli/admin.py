"""`shop create-admin EMAIL`: create a verified admin, or promote an existing user."""

from __future__ import annotations

import asyncio
import getpass
import sys

from email_validator import EmailNotValidError, validate_email

from shop.auth.config import AuthSettings
from shop.auth.passwords import password_problems
from shop.auth.service import ensure_admin
from shop.cli.config import CliSettings
from shop.cli.system import data_layer, migrate
from shop.kit.db import create_engine, create_sessionmaker, unit_of_work


class AdminInputError(ValueError):
    """Bad input on the command line: reported in one line, exit status 2."""


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise AdminInputError("the passwords differ")
    return first


async def _create(settings: AuthSettings, email: str, password: str) -> None:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            await ensure_admin(
                session, email, password, settings.bcrypt_rounds, promote_existing=True
            )
    finally:
        await engine.dispose()


def create_admin(cli: CliSettings, email: str, password: str) -> None:
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise AdminInputError(str(exc)) from exc
    if problems := password_problems(password, email):
        raise AdminInputError("the password " + ", ".join(problems))
    with data_layer(cli, need_redis=False, services=["auth"]) as env:
        migrate(env, ["auth"])
        settings = AuthSettings(AUTH_DATABASE_URL=env["AUTH_DATABASE_URL"])
        asyncio.run(_create(settings, email, password))
