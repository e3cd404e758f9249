"""A key rotated under two running auth instances (real servers on sockets, one keys
directory, one database and Redis) costs no valid token a 401: not at either instance,
not at a verifier that fetches the JWKS through a load balancer over both."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import redis.asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shop.auth.app import create_app
from shop.auth.keys import SigningKey
from shop.kit.errors import ShopError
from shop.kit.identity import JwksKeySource, TokenVerifier
from tests.auth.conftest import API, AuthFixture, SettingsFactory, bearer
from tests.support import served

# Short, so the test is; still longer than the verifier's refresh and the instances'
# re-reading of the directory, as JWT_KEY_ACTIVATION_SECONDS must be.
ACTIVATION = 4.0
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


class RoundRobin(httpx.AsyncBaseTransport):
    """A load balancer in miniature: each request goes to the next instance."""

    def __init__(self, bases: list[str]) -> None:
        self.targets = [httpx.URL(base) for base in bases]
        self.sent = 0
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.targets[self.sent % len(self.targets)]
        self.sent += 1
        request.url = request.url.copy_with(host=target.host, port=target.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


async def test_rotating_the_key_under_two_running_instances_answers_no_401(
    auth: AuthFixture,
    settings_for: SettingsFactory,
    tmp_path: Path,
    sessions_redis: redis.asyncio.Redis,
) -> None:
    settings = settings_for(jwt_key_activation_seconds=ACTIVATION)  # the auth fixture's keys
    [old_pem] = (tmp_path / "keys").glob("*.pem")
    failures: list[str] = []

    with served(create_app(settings)) as first, served(create_app(settings)) as second:
        instances = [httpx.AsyncClient(base_url=url) for url in (first, second)]
        balancer = RoundRobin([first, second])
        balanced = httpx.AsyncClient(transport=balancer, base_url="http://auth.internal")
        verifier = TokenVerifier(
            JwksKeySource(
                f"http://auth.internal{API}/.well-known/jwks.json",
                balanced,
                min_refresh_interval=0.2,
                max_age=0.5,
            ),
            sessions_redis,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        try:
            await auth.register(EMAIL)
            token = await auth.mailbox.link_token(EMAIL)
            verified = await auth.client.post(f"{API}/verify-email", json={"token": token})
            assert verified.status_code == 200

            async def check(token: str, where: str) -> None:
                """The token passes every instance and the JWKS verifier."""
                for n, instance in enumerate(instances):
                    response = await instance.get(f"{API}/me", headers=bearer(token))
                    if response.status_code != 200:
                        failures.append(f"{where}: /me at instance {n}: {response.status_code}")
                try:
                    await verifier.verify(token)
                except ShopError as exc:
                    failures.append(f"{where}: the JWKS verifier: {exc.status}")

            async def one_round(n: int) -> dict[str, Any]:
                login = await instances[n % 2].post(
                    f"{API}/login", json={"email": EMAIL, "password": PASSWORD}
                )
                assert login.status_code == 200, login.text
                pair: dict[str, Any] = login.json()
                await check(pair["access_token"], f"round {n} login")
                refreshed = await balanced.post(
                    f"{API}/refresh", json={"refresh_token": pair["refresh_token"]}
                )
                if refreshed.status_code != 200:
                    failures.append(f"round {n}: refresh: {refreshed.status_code}")
                else:
                    await check(refreshed.json()["access_token"], f"round {n} refresh")
                return pair

            before = [await one_round(n) for n in range(4)]
            assert {kid_of(pair["access_token"]) for pair in before} == {old_pem.stem}

            # The rotation: a new key file in the directory both instances share.
            new_key = Ed25519PrivateKey.generate()
            new_kid = SigningKey.from_private_key(new_key).kid
            (tmp_path / "keys" / f"{new_kid}.pem").write_bytes(
                new_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            signed_new = {0: 0, 1: 0}
            deadline = time.monotonic() + 60
            n = 4
            while min(signed_new.values()) < 3:
                assert time.monotonic() < deadline, f"the new key never signed: {signed_new}"
                pair = await one_round(n)
                if kid_of(pair["access_token"]) == new_kid:
                    signed_new[n % 2] += 1
                n += 1
            # Tokens of the old key, issued before the rotation, still pass everywhere.
            for pair in before:
                await check(pair["access_token"], "a token of the old key")
            published = [
                sorted(
                    key["kid"]
                    for key in (await instance.get(f"{API}/.well-known/jwks.json")).json()["keys"]
                )
                for instance in instances
            ]
        finally:
            for client in [*instances, balanced]:
                await client.aclose()

    assert failures == []
    assert published == [sorted([old_pem.stem, new_kid])] * 2
    assert balancer.sent > 10  # the verifier's fetches and refreshes went to both
