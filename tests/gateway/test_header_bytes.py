"""Header values that are not ASCII reach the service as the bytes the client sent."""

from __future__ import annotations

import httpx

from tests.gateway.services import header_values


async def test_a_latin_1_header_value_is_forwarded_unchanged(gateway: httpx.AsyncClient) -> None:
    # Found by schemathesis: such an Idempotency-Key made the gateway answer 500.
    response = await gateway.post(
        "/api/v1/orders", headers={"idempotency-key": "clé-é".encode("latin-1")}, content=b"{}"
    )
    assert response.status_code == 200, response.text
    assert header_values(response.json(), "idempotency-key") == ["clé-é"]


async def test_a_utf_8_header_value_is_forwarded_unchanged(gateway: httpx.AsyncClient) -> None:
    # UTF-8 goes through aiohttp's writer (latin-1 above through httpx's): the same bytes.
    value = "clé-é-✓".encode()
    response = await gateway.get("/api/v1/products/1", headers={"x-note": value})
    assert response.status_code == 200, response.text
    assert header_values(response.json(), "x-note") == [value.decode("latin-1")]
