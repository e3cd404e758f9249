from tests.auth.conftest import AuthFixture


async def test_register_verify_login_me(auth: AuthFixture) -> None:
    tokens = await auth.verified_user("ada@example.com")
    me = await auth.me(tokens["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["email_verified"] is True
