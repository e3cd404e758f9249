"""Each service's migrations build exactly its models, and can be undone."""

import asyncio

import asyncpg
import pytest

from shop.cli.services import DATABASE_SERVICES, ServiceSpec
from shop.kit import migrations
from tests.support import Databases, with_database


@pytest.fixture(params=DATABASE_SERVICES, ids=lambda spec: spec.name)
def service(request: pytest.FixtureRequest) -> ServiceSpec:
    spec: ServiceSpec = request.param
    return spec


def test_models_agree_with_migrations(databases: Databases, service: ServiceSpec) -> None:
    # `alembic check`: autogenerate against the migrated database finds nothing to do.
    migrations.check(service.migrations, databases.urls[service.name])


def test_migrations_go_down_and_up_again(
    databases: Databases, service: ServiceSpec, worker_id: str
) -> None:
    name = f"test_roundtrip_{service.name}_{worker_id}"
    admin_url = databases.admin_url

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    url = with_database(admin_url, name)
    try:
        migrations.upgrade(service.migrations, url)
        migrations.downgrade(service.migrations, url, "base")
        migrations.upgrade(service.migrations, url)
        migrations.check(service.migrations, url)
    finally:
        asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))
