"""Alembic environment of the products service (see shop.kit.migrations)."""

from shop.kit.migrations import run_migrations
from shop.products.models import Base
from shop.products.search.vocabulary import SearchWord

__all__ = ["SearchWord"]  # its table is part of Base.metadata

run_migrations(Base.metadata)
