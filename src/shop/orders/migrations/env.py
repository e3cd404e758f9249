"""Alembic environment of the orders service (see shop.kit.migrations)."""

from shop.kit.migrations import run_migrations
from shop.orders.models import Base

run_migrations(Base.metadata)
