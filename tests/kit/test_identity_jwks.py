"""Keys from the auth service's JWKS: rotation works, floods and outages do no harm."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from shop.cli.processes import free_port
from shop.kit.http import create_http_client
from shop.kit.identity import InvalidTokenError, JwksKeySource, TokenVerifier
from tests.kit.identity_support import (
    AUDIENCE,
    ISSUER,
    JwksServer,
    SigningKey,
    live_token,
    redis_client,
)

# min_refresh_interval of these tests: long enough to be sure of on a loaded machine,
# short to wait
INTERVAL = 1.0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with redis_client(redis_url) as client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with create_http_client() as client:
        yield client


def verifier_for(source: JwksKeySource, redis: Redis) -> TokenVerifier:
    return TokenVerifier(source, redis, issuer=ISSUER, audience=AUDIENCE)


async def test_keys_are_fetched_once_and_cached(redis: Redis, http: httpx.AsyncClient) -> None:
    key, server = SigningKey.generate(), JwksServer()
    server.publish(key)
    with server.running() as url:
        verifier = verifier_for(JwksKeySource(url, http), redis)
        for _ in range(5):
            assert (await verifier.verify(await live_token(redis, key))).email
    assert server.requests == 1


async def test_a_new_key_verifies_once_published(redis: Redis, http: httpx.AsyncClient) -> None:
    old, new, server = SigningKey.generate(), SigningKey.generate(), JwksServer()
    server.publish(old)
    with server.running() as url:
        verifier = verifier_for(JwksKeySource(url, http, min_refresh_interval=INTERVAL), redis)
        await verifier.verify(await live_token(redis, old))
        server.publish(old, new)  # auth rotates: the new key signs from now on
        await asyncio.sleep(INTERVAL)
        await verifier.verify(await live_token(redis, new))  # unknown kid: refetched
        await verifier.verify(await live_token(redis, old))  # tokens of the old key still pass
        assert server.requests == 2


async def test_floods_of_unknown_kids_fetch_at_most_once_per_interval(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    key, server = SigningKey.generate(), JwksServer()
    server.publish(key)
    with server.running() as url:
        verifier = verifier_for(JwksKeySource(url, http, min_refresh_interval=INTERVAL), redis)
        # Made before the fetch, so that the interval after it is all the flood's.
        made_up = [await live_token(redis, SigningKey.generate()) for _ in range(100)]
        await verifier.verify(await live_token(redis, key))
        assert server.requests == 1

        # Right after a fetch: no fetch at all.
        for token in made_up[:50]:
            with pytest.raises(InvalidTokenError):
                await verifier.verify(token)
        assert server.requests == 1

        # Once the interval is over, a concurrent flood makes one fetch between them.
        await asyncio.sleep(INTERVAL)
        results = await asyncio.gather(
            *(verifier.verify(token) for token in made_up[50:]), return_exceptions=True
        )
        assert all(isinstance(result, InvalidTokenError) for result in results)
        assert server.requests == 2
        # Good tokens still pass meanwhile, from the cache.
        await verifier.verify(await live_token(redis, key))
        assert server.requests == 2


async def test_the_whole_set_is_refreshed_after_max_age(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    retired, current, server = SigningKey.generate(), SigningKey.generate(), JwksServer()
    server.publish(retired, current)
    with server.running() as url:
        source = JwksKeySource(
            url, http, min_refresh_interval=0, max_age=INTERVAL, retention=INTERVAL
        )
        verifier = verifier_for(source, redis)
        retired_token = await live_token(redis, retired)
        await verifier.verify(retired_token)
        server.publish(current)  # auth stops publishing the retired key
        await verifier.verify(retired_token)  # still cached
        assert server.requests == 1
        await asyncio.sleep(INTERVAL)
        with pytest.raises(InvalidTokenError):
            await verifier.verify(retired_token)
        assert server.requests == 2
        await verifier.verify(await live_token(redis, current))
        assert server.requests == 2


async def test_a_fetch_that_lacks_a_key_merges_and_ages_it_out_only_after_retention(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    # Two auth instances behind one URL, one of them a moment behind with a new key:
    # which of them answers a fetch must not decide whether good tokens pass.
    old, new, server = SigningKey.generate(), SigningKey.generate(), JwksServer()
    server.publish(old, new)
    with server.running() as url:
        source = JwksKeySource(
            url, http, min_refresh_interval=0, max_age=INTERVAL, retention=8 * INTERVAL
        )
        verifier = verifier_for(source, redis)
        new_token = await live_token(redis, new)
        await verifier.verify(new_token)
        server.publish(old)  # the lagging instance answers the next fetches
        deadline = time.monotonic() + 3 * INTERVAL
        while time.monotonic() < deadline:
            await verifier.verify(await live_token(redis, new))
            await asyncio.sleep(INTERVAL / 5)
        assert server.requests >= 3  # refetched meanwhile, each time without the new key
        # Unpublished for longer than the retention: aged out.
        await asyncio.sleep(8 * INTERVAL)
        await verifier.verify(await live_token(redis, old))  # a fetch: it is stale
        with pytest.raises(InvalidTokenError):
            await verifier.verify(await live_token(redis, new))


async def test_known_keys_do_not_wait_for_a_slow_refresh(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    key, server = SigningKey.generate(), JwksServer()
    server.publish(key)
    with server.running() as url:
        source = JwksKeySource(url, http, min_refresh_interval=0, max_age=INTERVAL)
        verifier = verifier_for(source, redis)
        await verifier.verify(await live_token(redis, key))
        await asyncio.sleep(INTERVAL)  # the set is past its max age: the next verify refreshes
        server.answering.clear()  # and the refresh hangs until the test lets it answer
        try:
            refreshing = asyncio.create_task(verifier.verify(await live_token(redis, key)))
            deadline = time.monotonic() + 30
            while server.requests < 2:  # the refresh is under way
                assert time.monotonic() < deadline, "the refresh never reached the server"
                await asyncio.sleep(0.02)
            token = await live_token(redis, key)
            assert (await asyncio.wait_for(verifier.verify(token), 30)).email
            # Verified while the refresh still had no answer: it did not wait for it.
            assert server.answered == 1
        finally:
            server.answering.set()
        await refreshing


async def test_cached_keys_survive_an_outage(redis: Redis, http: httpx.AsyncClient) -> None:
    key, server = SigningKey.generate(), JwksServer()
    server.publish(key)
    with server.running() as url:
        source = JwksKeySource(url, http, min_refresh_interval=0, max_age=INTERVAL)
        verifier = verifier_for(source, redis)
        await verifier.verify(await live_token(redis, key))
    # The JWKS server is gone, and the set is past its max age: the keys still serve.
    await asyncio.sleep(INTERVAL)
    assert (await verifier.verify(await live_token(redis, key))).email
    with pytest.raises(InvalidTokenError):
        await verifier.verify(await live_token(redis, SigningKey.generate()))


async def test_no_jwks_and_no_cached_key_fails_closed(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    key = SigningKey.generate()
    nowhere = f"http://127.0.0.1:{free_port()}/jwks.json"
    verifier = verifier_for(JwksKeySource(nowhere, http, min_refresh_interval=0), redis)
    for _ in range(3):
        with pytest.raises(InvalidTokenError):
            await verifier.verify(await live_token(redis, key))


async def test_a_broken_key_set_is_no_key_set(redis: Redis, http: httpx.AsyncClient) -> None:
    key, server = SigningKey.generate(), JwksServer(broken=True)
    server.publish(key)
    with server.running() as url:
        verifier = verifier_for(JwksKeySource(url, http, min_refresh_interval=0), redis)
        with pytest.raises(InvalidTokenError):
            await verifier.verify(await live_token(redis, key))
        server.broken = False  # repaired: the next unknown kid fetches again
        await verifier.verify(await live_token(redis, key))
    assert server.requests == 2


async def test_keys_other_than_signing_keys_are_ignored(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    key, server = SigningKey.generate(), JwksServer()
    server.keys = [{**key.jwk(), "use": "enc"}]
    with server.running() as url:
        verifier = verifier_for(JwksKeySource(url, http), redis)
        with pytest.raises(InvalidTokenError):
            await verifier.verify(await live_token(redis, key))
