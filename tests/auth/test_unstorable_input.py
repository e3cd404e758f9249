"""Input PostgreSQL can't store is a 422 at the boundary, never a 500 (found by
schemathesis, tests/resilience)."""

from __future__ import annotations

from tests.auth.conftest import API, AuthFixture, bearer


async def test_a_nul_in_the_user_email_filter_is_422(auth: AuthFixture) -> None:
    admin = await auth.admin()
    response = await auth.client.get(
        f"{API}/users", params={"email": "a\x00b"}, headers=bearer(admin["access_token"])
    )
    assert response.status_code == 422, response.text


async def test_a_nul_in_a_profile_name_is_422(auth: AuthFixture) -> None:
    user = await auth.verified_user("nul@example.com")
    response = await auth.client.patch(
        f"{API}/me", json={"full_name": "Ada\x00"}, headers=bearer(user["access_token"])
    )
    assert response.status_code == 422, response.text
