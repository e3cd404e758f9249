"""Every integer and boolean of every products request body, the internal reservation
API's included, takes only its own JSON type (property-based, over the app's OpenAPI)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.products.conftest import SERVICE_TOKEN, ProductsFixture
from tests.strict_bodies import (
    assert_wrong_type_refused,
    typed_body_fields,
    wrong_json_types,
)


async def test_the_document_lists_the_known_typed_fields(products: ProductsFixture) -> None:
    fields = {str(field) for field in typed_body_fields(products.app.openapi())}
    assert {
        "POST /api/v1/products price",
        "POST /api/v1/products initial_stock",
        "PATCH /api/v1/products/{product_id} price",
        "POST /api/v1/products/{product_id}/inventory/adjustments delta",
        "PUT /internal/v1/reservations/{order_id} lines.0.quantity",
        "PUT /internal/v1/reservations/{order_id} commit",
    } <= fields


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_a_wrong_json_type_is_a_422_problem(
    products: ProductsFixture, data: st.DataObject
) -> None:
    headers = {**products.admin, "x-service-token": SERVICE_TOKEN}
    for field in typed_body_fields(products.app.openapi()):
        value = data.draw(wrong_json_types(field), label=str(field))
        response = await products.client.request(
            field.method, field.url(), json=field.body(value), headers=headers
        )
        assert_wrong_type_refused(field, value, response)
