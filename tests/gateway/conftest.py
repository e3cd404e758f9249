from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.gateway.services import echo_services, gateway_client, gateway_settings


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, str]]:
    """An echo service per upstream, shared by a module's tests (they keep no state)."""
    with echo_services() as urls:
        yield urls


@pytest.fixture
async def gateway(services: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh gateway in front of the echo services, and a client for it."""
    async with gateway_client(gateway_settings(services)) as client:
        yield client
