"""Every typed field of every auth request body takes only its own JSON type: ``1`` or
``"true"`` is not ``true`` (property-based, over the app's OpenAPI)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.auth.conftest import AuthFixture, bearer
from tests.strict_bodies import assert_wrong_type_refused, typed_body_fields, wrong_json_types


async def test_the_document_lists_the_known_typed_fields(auth: AuthFixture) -> None:
    fields = {str(field) for field in typed_body_fields(auth.app.openapi())}
    assert "PATCH /api/v1/auth/users/{user_id} is_active" in fields


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_a_wrong_json_type_is_a_422_problem(auth: AuthFixture, data: st.DataObject) -> None:
    admin = bearer((await auth.admin())["access_token"])
    for field in typed_body_fields(auth.app.openapi()):
        value = data.draw(wrong_json_types(field), label=str(field))
        response = await auth.client.request(
            field.method, field.url(), json=field.body(value), headers=admin
        )
        assert_wrong_type_refused(field, value, response)
