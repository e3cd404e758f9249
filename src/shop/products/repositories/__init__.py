"""Every query of the products service, outside the search adapter.

One repository per table (or close group of tables), each on the caller's
session, on one generic base (:class:`Repository`). Repositories read, lock,
add and flush; they never commit: whoever owns the session does (the request's
session dependency, or a background job's unit of work). The search adapter
(:mod:`shop.products.search`) keeps the queries of its PostgreSQL backend and
indexer to itself: they are its own data layer.
"""

from shop.products.repositories.base import Repository
from shop.products.repositories.catalog import (
    CategoryRepository,
    ProductRepository,
    StockRepository,
)
from shop.products.repositories.images import ImageRepository
from shop.products.repositories.outbox import OutboxRepository
from shop.products.repositories.reservations import ReservationRepository
from shop.products.repositories.variants import OptionRepository, VariantRepository

__all__ = [
    "CategoryRepository",
    "ImageRepository",
    "OptionRepository",
    "OutboxRepository",
    "ProductRepository",
    "Repository",
    "ReservationRepository",
    "StockRepository",
    "VariantRepository",
]
