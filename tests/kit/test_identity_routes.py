"""The identity dependencies on a service built with the kit, called over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI, Request
from redis.asyncio import Redis

from shop.cli.processes import free_port
from shop.kit.app import create_service_app
from shop.kit.config import DatabaseSettings
from shop.kit.identity import (
    AdminUser,
    CurrentUser,
    IdentitySettings,
    KeySource,
    OptionalUser,
    StaticKeySource,
    VerifiedUser,
    current_identity,
    identity_resource,
)
from shop.kit.redis import redis_resource
from tests.kit.identity_support import (
    AUDIENCE,
    ISSUER,
    JwksServer,
    SigningKey,
    live_token,
    redis_client,
)
from tests.support import app_client

PROBLEM = "application/problem+json"
KEY = SigningKey.generate()


class CountingKeySource(KeySource):
    """Real keys, and a count of how often verification asked for one."""

    def __init__(self, inner: KeySource) -> None:
        self.inner = inner
        self.lookups = 0

    async def key(self, kid: str) -> Any:
        self.lookups += 1
        return await self.inner.key(kid)


def identity_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/probe")

    @router.get("/me")
    async def me(user: CurrentUser, request: Request) -> dict[str, Any]:
        again = await current_identity(request)  # from request.state, not verified twice
        assert again is user
        return {"id": str(user.user_id), "roles": sorted(user.roles)}

    @router.get("/verified")
    async def verified(user: VerifiedUser) -> dict[str, str]:
        return {"email": user.email}

    @router.get("/admin")
    async def admin(user: AdminUser) -> dict[str, bool]:
        return {"admin": user.is_admin}

    @router.get("/catalog")
    async def catalog(user: OptionalUser) -> dict[str, str]:
        if user is None:
            return {"view": "public"}
        return {"view": "admin" if user.is_admin else "customer"}

    return router


def settings_for(redis_url: str, **extra: Any) -> IdentitySettings:
    return IdentitySettings(
        service_name="probe",  # as the other kit tests: loggers cache it
        redis_url=redis_url,
        log_format="json",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        **extra,
    )


def create_identity_app(settings: IdentitySettings, keys: KeySource | None = None) -> FastAPI:
    return create_service_app(
        settings,
        title="Identity probe",
        routers=[identity_router()],
        resources=[redis_resource(settings.redis_url), identity_resource(settings, keys)],
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with redis_client(redis_url) as client:
        yield client


@pytest.fixture
def keys() -> CountingKeySource:
    return CountingKeySource(StaticKeySource({KEY.kid: KEY.public_key}))


@pytest.fixture
async def client(redis_url: str, keys: CountingKeySource) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_identity_app(settings_for(redis_url), keys)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"authorization": ""}, id="empty"),
        pytest.param({"authorization": "Bearer"}, id="scheme-only"),
        pytest.param({"authorization": "Bearer   "}, id="blank-token"),
        pytest.param({"authorization": "Basic YWRhOmh1bnRlcjI="}, id="basic"),
        pytest.param({"authorization": "Token abc"}, id="other-scheme"),
    ],
)
async def test_no_bearer_token_is_401_asking_for_one(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/probe/me", headers=headers)
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert body["title"] == "Authentication required"


async def test_invalid_token_is_401_invalid_token(client: httpx.AsyncClient) -> None:
    for token in ("not-a-jwt", KEY.sign({"sub": "x"}), SigningKey.generate().sign({})):
        response = await client.get("/api/v1/probe/me", headers=bearer(token))
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert body["title"] == "Invalid token"
        assert body["type"].endswith("/invalid-token")


async def test_good_token_is_the_caller_verified_once(
    client: httpx.AsyncClient, redis: Redis, keys: CountingKeySource
) -> None:
    token = await live_token(redis, KEY)
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = await client.get(
            "/api/v1/probe/me", headers={"authorization": f"{scheme} {token}"}
        )
        assert response.status_code == 200
        assert response.json()["roles"] == ["customer"]
    assert response.json()["id"] == jwt.decode(token, options={"verify_signature": False})["sub"]
    assert keys.lookups == 3  # one verification a request, although /me asks twice


async def test_roles_and_verification_guard_their_routes(
    client: httpx.AsyncClient, redis: Redis
) -> None:
    customer = bearer(await live_token(redis, KEY))
    unverified = bearer(await live_token(redis, KEY, email_verified=False))
    admin = bearer(await live_token(redis, KEY, roles=("customer", "admin")))

    response = await client.get("/api/v1/probe/admin", headers=customer)
    assert assert_problem(response, 403)["title"] == "Forbidden"
    assert "www-authenticate" not in response.headers
    assert (await client.get("/api/v1/probe/admin", headers=admin)).json() == {"admin": True}

    response = await client.get("/api/v1/probe/verified", headers=unverified)
    assert "not verified" in assert_problem(response, 403)["detail"]
    response = await client.get("/api/v1/probe/verified", headers=customer)
    assert response.json() == {"email": "ada@example.com"}
    # An unverified user is still a user.
    assert (await client.get("/api/v1/probe/me", headers=unverified)).status_code == 200


async def test_optional_identity(client: httpx.AsyncClient, redis: Redis) -> None:
    assert (await client.get("/api/v1/probe/catalog")).json() == {"view": "public"}
    customer = bearer(await live_token(redis, KEY))
    admin = bearer(await live_token(redis, KEY, roles=("admin",)))
    assert (await client.get("/api/v1/probe/catalog", headers=customer)).json()[
        "view"
    ] == "customer"
    assert (await client.get("/api/v1/probe/catalog", headers=admin)).json()["view"] == "admin"
    # A token that is there but bad is not silently ignored.
    response = await client.get("/api/v1/probe/catalog", headers=bearer("forged"))
    assert_problem(response, 401)


async def test_logout_stops_the_token_at_once(client: httpx.AsyncClient, redis: Redis) -> None:
    token = await live_token(redis, KEY)
    assert (await client.get("/api/v1/probe/me", headers=bearer(token))).status_code == 200
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    await redis.delete(f"auth:session:{sid}")
    assert_problem(await client.get("/api/v1/probe/me", headers=bearer(token)), 401)


async def test_redis_down_is_503_not_a_pass(redis_url: str, redis: Redis) -> None:
    token = await live_token(redis, KEY)
    down = settings_for(f"redis://127.0.0.1:{free_port()}/0")
    app = create_identity_app(down, StaticKeySource({KEY.kid: KEY.public_key}))
    async with app_client(app) as client:
        response = await client.get("/api/v1/probe/me", headers=bearer(token))
    assert_problem(response, 503)
    assert response.headers["retry-after"]


async def test_keys_come_from_the_jwks_url_by_default(redis_url: str, redis: Redis) -> None:
    server = JwksServer()
    server.publish(KEY)
    with server.running() as url:
        app = create_identity_app(settings_for(redis_url, jwks_url=url))
        async with app_client(app) as client:
            for _ in range(3):
                response = await client.get(
                    "/api/v1/probe/me", headers=bearer(await live_token(redis, KEY))
                )
                assert response.status_code == 200
            ready = await client.get("/health/ready")
            assert ready.json()["checks"] == {"redis": "ok"}
    assert server.requests == 1


async def test_the_redis_resource_must_come_first(redis_url: str) -> None:
    settings = settings_for(redis_url)
    app = create_service_app(
        settings, title="Misconfigured", resources=[identity_resource(settings)]
    )
    with pytest.raises(RuntimeError, match="redis_resource"):
        async with app_client(app):
            pass


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = IdentitySettings()
    assert (defaults.jwt_issuer, defaults.jwt_audience) == ("shop-auth", "shop")
    assert defaults.jwks_url == "http://127.0.0.1:3001/api/v1/auth/.well-known/jwks.json"
    monkeypatch.setenv("JWT_ISSUER", "issuer-x")
    monkeypatch.setenv("JWT_AUDIENCE", "audience-y")
    monkeypatch.setenv("JWKS_URL", "http://auth.internal/jwks.json")

    class ServiceWithDatabase(DatabaseSettings, IdentitySettings):
        pass

    settings = ServiceWithDatabase(database_url="postgresql://u@h/db")
    assert settings.jwt_issuer == "issuer-x"
    assert settings.jwt_audience == "audience-y"
    assert settings.jwks_url == "http://auth.internal/jwks.json"
