"""Stock held for orders, on the products service's /metrics."""

from __future__ import annotations

import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.products.reservation_support import reservations_env
from tests.support import Databases


async def test_held_reservations_and_units_are_measured_in_the_database(
    databases: Databases, redis_url: str, tmp_path: Path
) -> None:
    async with reservations_env(databases, redis_url, tmp_path) as env:
        lamp = await env.books.product(10)
        mug = await env.books.product(10)
        fresh, late, done, dropped = (uuid.uuid4() for _ in range(4))
        assert (await env.reserve(fresh, (lamp, 3), (mug, 1))).status_code == 201
        assert (await env.reserve(late, (mug, 2))).status_code == 201
        assert (await env.reserve(done, (lamp, 4))).status_code == 201
        assert (await env.reserve(dropped, (lamp, 1))).status_code == 201
        assert (await env.commit(done)).status_code == 200
        assert (await env.release(dropped)).status_code == 200
        await env.books.age(late)  # expired, not swept yet

        response = await env.client.get("/metrics")

    samples = {
        sample.name: sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples["reservations_held"].value == 2  # committed and released don't count
    assert samples["reservation_units_held"].value == 6
    assert samples["reservations_held_expired"].value == 1
    assert samples["reservations_held"].labels == {"service": "products"}
    # The products outbox and pools are there too.
    assert "outbox_pending_messages" in samples
    assert "db_pool_max_connections" in samples
