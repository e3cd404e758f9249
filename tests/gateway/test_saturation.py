"""At most UPSTREAM_MAX_CONNECTIONS requests are out to the services at once; one more
waits for a slot up to the connect timeout, then is refused without blaming an instance."""

from __future__ import annotations

import asyncio

from tests.gateway.instances import metric, running_gateway
from tests.gateway.services import assert_problem, gateway_settings, slow_app
from tests.support import served


async def test_a_request_finding_no_free_slot_in_time_is_503_and_ejects_nothing(
    services: dict[str, str],
) -> None:
    with served(slow_app(seconds=1.5)) as slow:
        settings = gateway_settings(
            services,
            products_urls=[slow],
            upstream_max_connections=1,
            upstream_connect_timeout=0.3,
            upstream_health_interval=0,
        )
        async with running_gateway(settings) as (_, gateway):
            busy = asyncio.create_task(gateway.get("/api/v1/products/1"))
            await asyncio.sleep(0.3)  # the slow request holds the only slot
            refused = await gateway.get("/api/v1/products/2")
            # Another service has no free slot either: the bound is the gateway's.
            other = await gateway.get("/api/v1/orders")
            answered = await busy
            healthy = await metric(gateway, "gateway_upstream_healthy", url=slow)
            # The slot came back with the slow answer.
            after = await gateway.get("/api/v1/orders")
    problem = assert_problem(refused, 503)
    assert "saturated" in problem["detail"]
    assert_problem(other, 503)
    assert answered.status_code == 200, answered.text
    assert answered.json() == {"status": "finally"}
    assert healthy == 1.0
    assert after.status_code == 200, after.text
