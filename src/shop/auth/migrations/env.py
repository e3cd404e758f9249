"""Alembic environment of the auth service (see shop.kit.migrations)."""

from shop.auth.models import Base
from shop.kit.migrations import run_migrations

run_migrations(Base.metadata)
