"""Every integer of every orders request body takes only a JSON integer: ``true`` is not
a quantity of 1, ``"2"`` not one of 2 (property-based, over the app's OpenAPI)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.orders.support import OrdersEnv
from tests.strict_bodies import assert_wrong_type_refused, typed_body_fields, wrong_json_types


async def test_the_document_lists_the_order_line_quantity(env: OrdersEnv) -> None:
    fields = {str(field) for field in typed_body_fields(env.app.openapi())}
    assert "POST /api/v1/orders items.0.quantity" in fields


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_a_wrong_json_type_is_a_422_problem(env: OrdersEnv, data: st.DataObject) -> None:
    admin = await env.tokens.user("customer", "admin")
    for field in typed_body_fields(env.app.openapi()):
        value = data.draw(wrong_json_types(field), label=str(field))
        response = await env.client.request(
            field.method, field.url(), json=field.body(value), headers=admin.headers
        )
        assert_wrong_type_refused(field, value, response)
