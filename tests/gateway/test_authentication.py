"""The gateway refuses bad bearer tokens before any service sees them."""

from __future__ import annotations

import os

from tests.gateway.services import assert_problem, echo_services, gateway_client, gateway_settings
from tests.kit.identity_support import JwksServer, SigningKey, claims, live_token, redis_client


async def test_bad_tokens_are_refused_at_the_edge_and_good_ones_pass_through() -> None:
    key = SigningKey.generate()
    jwks = JwksServer()
    jwks.publish(key)
    redis_url = os.environ["TEST_REDIS_URL"]
    with echo_services() as services, jwks.running() as jwks_url:
        settings = gateway_settings(services, jwks_url=jwks_url)
        async with gateway_client(settings) as gateway, redis_client(redis_url) as redis:
            good = await live_token(redis, key)
            passed = await gateway.get(
                "/api/v1/orders", headers={"authorization": f"Bearer {good}"}
            )
            assert passed.status_code == 200
            # The service got the token too: it verifies identity itself.
            assert ["authorization", f"Bearer {good}"] in passed.json()["headers"]

            revoked = key.sign(claims())  # its session was never opened
            forged = SigningKey.generate(kid=key.kid).sign(claims())
            for token in (revoked, forged, "not-a-jwt"):
                refused = await gateway.get(
                    "/api/v1/orders", headers={"authorization": f"Bearer {token}"}
                )
                body = assert_problem(refused, 401)
                assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
                assert "headers" not in body  # the problem is the gateway's, not the echo's

            basic = await gateway.get("/api/v1/orders", headers={"authorization": "Basic eDp5"})
            assert_problem(basic, 401)
            assert basic.headers["www-authenticate"] == "Bearer"

            anonymous = await gateway.get("/api/v1/products")
            assert anonymous.status_code == 200  # no token: the service decides


async def test_a_stale_token_does_not_block_the_open_auth_routes() -> None:
    with echo_services() as services:
        async with gateway_client(gateway_settings(services)) as gateway:
            stale = {"authorization": "Bearer expired.or.garbage"}
            login = await gateway.post("/api/v1/auth/login", json={}, headers=stale)
            refresh = await gateway.post("/api/v1/auth/refresh", json={}, headers=stale)
            me = await gateway.get("/api/v1/auth/me", headers=stale)
    # The open routes reach the service (here, the echo), the others are refused.
    assert login.status_code == 200
    assert login.json()["raw_path"] == "/api/v1/auth/login"
    assert refresh.status_code == 200
    assert me.status_code == 401
