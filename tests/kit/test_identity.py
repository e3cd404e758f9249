"""Access token verification: only tokens auth really issued, for a live session, pass."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from redis.asyncio import Redis

from shop.cli.processes import free_port
from shop.kit.errors import UpstreamUnavailableError
from shop.kit.identity import (
    REQUIRED_CLAIMS,
    Identity,
    InvalidTokenError,
    StaticKeySource,
    TokenVerifier,
    session_key,
    user_sessions_key,
)
from tests.kit.identity_support import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    claims,
    hand_made_token,
    live_token,
    open_session,
    redis_client,
)

KEY = SigningKey.generate()
AT_JWT = {"typ": "at+jwt"}  # the access token type: only what a test is about is wrong


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with redis_client(redis_url) as client:
        yield client


@pytest.fixture
def verifier(redis: Redis) -> TokenVerifier:
    return TokenVerifier(
        StaticKeySource({KEY.kid: KEY.public_key}), redis, issuer=ISSUER, audience=AUDIENCE
    )


async def assert_rejected(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401
    assert caught.value.headers() == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    response = caught.value.to_response()
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert json.loads(bytes(response.body))["title"] == "Invalid token"


async def test_good_token_verifies_to_its_identity(verifier: TokenVerifier, redis: Redis) -> None:
    sid = await open_session(redis)
    body = claims(session_id=uuid.UUID(sid), email="grace@example.com", email_verified=False)
    identity = await verifier.verify(KEY.sign(body))
    assert identity == Identity(
        user_id=uuid.UUID(body["sub"]),
        session_id=uuid.UUID(sid),
        token_id=body["jti"],
        email="grace@example.com",
        email_verified=False,
        roles=frozenset({"customer"}),
    )
    assert not identity.is_admin
    admin = await verifier.verify(await live_token(redis, KEY, roles=("customer", "admin")))
    assert admin.is_admin
    assert admin.roles == frozenset({"customer", "admin"})


async def test_es256_tokens_verify_too(redis: Redis) -> None:
    key = SigningKey.generate("ES256")
    verifier = TokenVerifier(
        StaticKeySource({key.kid: key.public_key}), redis, issuer=ISSUER, audience=AUDIENCE
    )
    identity = await verifier.verify(await live_token(redis, key))
    assert identity.roles == frozenset({"customer"})


async def test_static_keys_from_private_keys_and_jwks(redis: Redis) -> None:
    for source in (
        StaticKeySource({KEY.kid: KEY.private_key}),  # stands for its public half
        StaticKeySource.from_jwks({"keys": [KEY.jwk()]}),
    ):
        verifier = TokenVerifier(source, redis, issuer=ISSUER, audience=AUDIENCE)
        assert (await verifier.verify(await live_token(redis, KEY))).email == "ada@example.com"


def test_redis_keys_are_the_ones_auth_writes() -> None:
    sid, uid = uuid.uuid4(), uuid.uuid4()
    assert session_key(sid) == f"auth:session:{sid}" == session_key(str(sid))
    assert user_sessions_key(uid) == f"auth:user-sessions:{uid}"


@pytest.mark.parametrize(
    "overrides",
    [
        # Times are taken when the test runs, not when it is collected: a slow suite
        # reached it more than 600 s after collection, when "in the future" had passed.
        pytest.param({"exp": lambda: int(time.time()) - 60}, id="expired"),
        pytest.param({"iat": lambda: int(time.time()) + 600}, id="issued-in-the-future"),
        pytest.param({"iss": "someone-else"}, id="wrong-issuer"),
        pytest.param({"aud": "another-system"}, id="wrong-audience"),
        pytest.param({"sub": "not-a-uuid"}, id="sub-not-uuid"),
        pytest.param({"sub": 42}, id="sub-not-string"),
        pytest.param({"sid": "nope"}, id="sid-not-uuid"),
        pytest.param({"roles": "admin"}, id="roles-not-list"),
        pytest.param({"roles": [1]}, id="roles-not-strings"),
        pytest.param({"email_verified": "true"}, id="email-verified-not-bool"),
        pytest.param({"email": ["a@example.com"]}, id="email-not-string"),
        pytest.param({"jti": 7}, id="jti-not-string"),
        pytest.param({"exp": "tomorrow"}, id="exp-not-number"),
    ],
)
async def test_bad_claims_are_rejected(
    verifier: TokenVerifier, redis: Redis, overrides: dict[str, Any]
) -> None:
    sid = await open_session(redis)
    body = claims(session_id=uuid.UUID(sid))
    body.update({name: value() if callable(value) else value for name, value in overrides.items()})
    await assert_rejected(verifier, KEY.sign(body))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
async def test_every_claim_is_required(verifier: TokenVerifier, redis: Redis, claim: str) -> None:
    sid = await open_session(redis)
    body = claims(session_id=uuid.UUID(sid))
    del body[claim]
    await assert_rejected(verifier, KEY.sign(body))


async def test_clock_skew_is_tolerated_up_to_the_leeway(redis: Redis) -> None:
    sid = await open_session(redis)
    token = KEY.sign(claims(session_id=uuid.UUID(sid), exp=int(time.time()) - 2))
    keys = StaticKeySource({KEY.kid: KEY.public_key})
    lenient = TokenVerifier(keys, redis, issuer=ISSUER, audience=AUDIENCE, leeway=5)
    strict = TokenVerifier(keys, redis, issuer=ISSUER, audience=AUDIENCE, leeway=0)
    assert (await lenient.verify(token)).session_id == uuid.UUID(sid)
    await assert_rejected(strict, token)


async def test_audience_list_naming_us_is_accepted(verifier: TokenVerifier, redis: Redis) -> None:
    identity = await verifier.verify(await live_token(redis, KEY, aud=["billing", AUDIENCE]))
    assert identity.email == "ada@example.com"


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_tampered_payload_is_rejected(verifier: TokenVerifier, redis: Redis) -> None:
    token = await live_token(redis, KEY)
    header, payload, signature = _segments(token)
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["roles"] = ["customer", "admin"]  # a customer promoting themselves
    forged = f"{header}.{_b64(json.dumps(body).encode())}.{signature}"
    await assert_rejected(verifier, forged)


async def test_tampered_signature_is_rejected(verifier: TokenVerifier, redis: Redis) -> None:
    token = await live_token(redis, KEY)
    header, payload, signature = _segments(token)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    await assert_rejected(verifier, f"{header}.{payload}.{_b64(bytes(raw))}")
    await assert_rejected(verifier, f"{header}.{payload}.")


async def test_signature_of_another_key_under_a_known_kid_is_rejected(
    verifier: TokenVerifier, redis: Redis
) -> None:
    impostor = SigningKey.generate(kid=KEY.kid)
    await assert_rejected(verifier, await live_token(redis, impostor))


async def test_unknown_or_missing_kid_is_rejected(verifier: TokenVerifier, redis: Redis) -> None:
    await assert_rejected(verifier, await live_token(redis, SigningKey.generate()))
    sid = await open_session(redis)
    no_kid = jwt.encode(
        claims(session_id=uuid.UUID(sid)), KEY.private_key, algorithm="EdDSA", headers=AT_JWT
    )
    await assert_rejected(verifier, no_kid)


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "at+JWS", "id_token+jwt", "", 1])
async def test_a_jwt_not_typed_as_an_access_token_is_rejected(
    verifier: TokenVerifier, redis: Redis, typ: object
) -> None:
    # Signed by the right key, with every claim and a live session: only the type is wrong.
    sid = await open_session(redis)
    body = claims(session_id=uuid.UUID(sid))
    header: dict[str, Any] = {"kid": KEY.kid} if typ is None else {"kid": KEY.kid, "typ": typ}
    # PyJWT writes typ "JWT" when none is given: the type of any other JWT.
    token = jwt.encode(body, KEY.private_key, algorithm="EdDSA", headers=header)
    await assert_rejected(verifier, token)


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
async def test_the_access_token_type_is_accepted_in_each_spelling(
    verifier: TokenVerifier, redis: Redis, typ: str
) -> None:
    sid = await open_session(redis)
    identity = await verifier.verify(KEY.sign(claims(session_id=uuid.UUID(sid)), typ=typ))
    assert str(identity.session_id) == sid


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 10_000, "Bearer abc.def.ghi"])
async def test_garbage_is_rejected(verifier: TokenVerifier, token: str) -> None:
    await assert_rejected(verifier, token)


async def test_alg_none_is_rejected(verifier: TokenVerifier, redis: Redis) -> None:
    sid = await open_session(redis)
    body = claims(session_id=uuid.UUID(sid))
    for alg in ("none", "None", "NONE"):
        await assert_rejected(verifier, hand_made_token({"alg": alg, "kid": KEY.kid}, body, None))


async def test_hs256_signed_with_the_public_key_is_rejected(
    verifier: TokenVerifier, redis: Redis
) -> None:
    # The classic algorithm confusion attack: the public key, which anyone can
    # fetch, used as an HMAC secret.
    sid = await open_session(redis)
    body = claims(session_id=uuid.UUID(sid))
    public = KEY.public_key
    secrets = [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        json.dumps(KEY.jwk()).encode(),
    ]
    for secret in secrets:
        for alg in ("HS256", "HS512"):
            token = hand_made_token({"alg": alg, "typ": "JWT", "kid": KEY.kid}, body, secret)
            await assert_rejected(verifier, token)


async def test_token_naming_another_allowed_algorithm_than_its_key_is_rejected(
    verifier: TokenVerifier, redis: Redis
) -> None:
    es_key = SigningKey.generate("ES256", kid=KEY.kid)  # ES256 under the Ed25519 key's kid
    await assert_rejected(verifier, await live_token(redis, es_key))


async def test_rsa_is_rejected_even_when_its_key_is_published(redis: Redis) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "rsa-1"}
    verifier = TokenVerifier(
        StaticKeySource.from_jwks({"keys": [jwk, KEY.jwk()]}),
        redis,
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    sid = await open_session(redis)
    body = claims(session_id=uuid.UUID(sid))
    token = jwt.encode(body, private, algorithm="RS256", headers={"kid": "rsa-1", **AT_JWT})
    await assert_rejected(verifier, token)
    # ... and a good EdDSA token from the same key set passes.
    assert (await verifier.verify(KEY.sign(body))).session_id == uuid.UUID(sid)


async def test_revoked_session_is_rejected_at_once(verifier: TokenVerifier, redis: Redis) -> None:
    sid = await open_session(redis)
    token = KEY.sign(claims(session_id=uuid.UUID(sid)))
    assert (await verifier.verify(token)).session_id == uuid.UUID(sid)
    await redis.delete(session_key(sid))  # logout
    await assert_rejected(verifier, token)


async def test_token_of_a_session_that_never_existed_is_rejected(verifier: TokenVerifier) -> None:
    await assert_rejected(verifier, KEY.sign(claims()))


async def test_redis_down_fails_closed(redis: Redis) -> None:
    token = await live_token(redis, KEY)  # a session that is alive, in the real Redis
    async with redis_client(f"redis://127.0.0.1:{free_port()}/0") as down:
        verifier = TokenVerifier(
            StaticKeySource({KEY.kid: KEY.public_key}), down, issuer=ISSUER, audience=AUDIENCE
        )
        with pytest.raises(UpstreamUnavailableError) as caught:
            await verifier.verify(token)
    assert caught.value.status == 503
    # A forged token is still a 401, whether or not Redis answers.
    async with redis_client(f"redis://127.0.0.1:{free_port()}/0") as down:
        verifier = TokenVerifier(
            StaticKeySource({KEY.kid: KEY.public_key}), down, issuer=ISSUER, audience=AUDIENCE
        )
        await assert_rejected(verifier, await live_token(redis, SigningKey.generate()))


async def test_a_token_seen_again_is_not_verified_again_but_its_session_still_is(
    verifier: TokenVerifier, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await open_session(redis)
    token = KEY.sign(claims(session_id=uuid.UUID(sid)))
    first = await verifier.verify(token)

    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        decoded.append("decode")
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert await verifier.verify(token) == first
    assert decoded == []  # remembered: no signature check the second time

    await redis.delete(session_key(sid))  # logged out, or the session was revoked
    await assert_rejected(verifier, token)


async def test_a_remembered_token_is_refused_once_its_key_is_gone(redis: Redis) -> None:
    keys = {KEY.kid: KEY.public_key}
    verifier = TokenVerifier(StaticKeySource(keys), redis, issuer=ISSUER, audience=AUDIENCE)
    token = await live_token(redis, KEY)
    await verifier.verify(token)
    source = StaticKeySource({})  # the key was withdrawn
    verifier._keys = source
    await assert_rejected(verifier, token)
