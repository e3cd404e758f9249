"""Alembic environment of the products service (see shop.kit.migrations)."""

from shop.kit.migrations import run_migrations
from shop.products.models import Base

run_migrations(Base.metadata)
