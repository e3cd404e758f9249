"""Stock held for orders, as Prometheus gauges on the products service's ``/metrics``.

Measured in the database when scraped (at most every few seconds), so every
replica reports the same whole-database figures: aggregate them with ``max``.
Held reservations past their expiry mean the sweeper is behind or stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import unit_of_work
from shop.kit.health import ReadinessCheck
from shop.kit.metrics import HttpMetrics
from shop.kit.queried_metrics import QueriedGauges
from shop.kit.resource import Resource
from shop.products.repositories import ReservationRepository

RESERVATION_GAUGES = {
    "reservations_held": "Reservations holding stock for an order.",
    "reservation_units_held": "Units of stock those reservations hold, all products together.",
    "reservations_held_expired": "Held reservations past their expiry, not yet released.",
}


def reservation_gauges(
    sessionmaker: async_sessionmaker[AsyncSession], service: str
) -> QueriedGauges:
    async def query() -> Mapping[str, float]:
        async with unit_of_work(sessionmaker) as session:  # a job's own (it only reads)
            row = await ReservationRepository(session).held_now()
        return dict(zip(RESERVATION_GAUGES, map(float, row), strict=True))

    return QueriedGauges(service, RESERVATION_GAUGES, query)


def reservation_metrics_resource() -> Resource:
    """The gauges above, for the app's lifetime (after the database resource)."""

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        metrics: HttpMetrics = app.state.metrics
        gauges = reservation_gauges(app.state.sessionmaker, metrics.service)
        with metrics.collecting(gauges, gauges.refresh):
            yield {}

    return resource
