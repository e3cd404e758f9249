"""Alembic environment of the orders service (see shop.kit.migrations)."""

import shop.orders.cart_models
import shop.orders.payment_models
import shop.orders.pricing_models  # noqa: F401
from shop.kit.migrations import run_migrations
from shop.orders.models import Base

run_migrations(Base.metadata)
