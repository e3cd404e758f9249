"""Input PostgreSQL can't store is a 422 at the boundary, never a 500 (found by
schemathesis, tests/resilience)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.products.conftest import ProductsFixture


@pytest.mark.parametrize(
    "attributes",
    [
        {"weight": 2**64},  # an integer beyond 64 bits
        {"colour\x00": "red"},  # NUL in a JSONB key
        {"colour": ["red", "\x00"]},  # NUL in a JSONB string
    ],
)
async def test_unstorable_attributes_are_422(
    products: ProductsFixture, attributes: dict[str, Any]
) -> None:
    product = await products.product()
    response = await products.client.patch(
        f"/api/v1/products/{product['id']}",
        json={"attributes": attributes},
        headers=products.admin,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_nul_in_an_adjustment_reason_is_422(products: ProductsFixture) -> None:
    product = await products.product()
    response = await products.client.post(
        f"/api/v1/products/{product['id']}/inventory/adjustments",
        json={"delta": 1, "reason": "recount\x00"},
        headers=products.admin,
    )
    assert response.status_code == 422, response.text


async def test_a_nul_in_a_product_slug_is_422(products: ProductsFixture) -> None:
    response = await products.client.get("/api/v1/products/a%00b")
    assert response.status_code == 422, response.text
