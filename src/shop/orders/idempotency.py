"""Idempotency-Key: a repeated request gets the first answer and does nothing again.

A key belongs to a user and is remembered with the scope (``place``,
``cancel:<order id>``) and a SHA-256 of the canonical request. The first
request inserts it ``in_progress`` in a transaction of its own (``INSERT ...
ON CONFLICT DO NOTHING``, so of concurrent repeats exactly one wins), then
runs; its answer (status and body) is stored and the key marked ``done``.

- A repeat with the same request gets the stored answer.
- A repeat with another request (or scope) is a 422.
- A repeat while the first still runs is a 409.
- A 5xx answer is not stored: the key is deleted, so the client may retry.
- Storing the answer (or deleting the key) outlasts a short database outage
  (``shop.kit.outages.outlasting``), so that a restart does not leave a done
  request's key in progress.
- Keys expire after ``idempotency_ttl_seconds`` (24 h); an expired key counts
  as absent, and the reconciler purges them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import unit_of_work
from shop.kit.errors import PROBLEM_TYPE_BASE, ShopError, problem_body
from shop.kit.outages import outlasting
from shop.orders.errors import IdempotencyKeyInProgressError, IdempotencyKeyReusedError
from shop.orders.models import IdempotencyKey, IdempotencyState


@dataclass(frozen=True)
class Answer:
    """What a request was answered: its status and JSON body."""

    status: int
    body: dict[str, Any]


def request_hash(scope: str, request: Any) -> str:
    canonical = json.dumps([scope, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def problem_answer(error: ShopError) -> Answer:
    body = problem_body(
        error.status,
        title=error.title,
        detail=error.detail,
        type_=PROBLEM_TYPE_BASE + error.type_slug,
        **error.extra,
    )
    return Answer(error.status, json.loads(json.dumps(body, default=str)))


async def _claim(
    session: AsyncSession, user_id: uuid.UUID, key: str, scope: str, digest: str, ttl: float
) -> IdempotencyKey | None:
    """Inserts the key in progress; None if we did, else the key as stored."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at <= func.now(),
        )
    )
    inserted = await session.execute(
        insert(IdempotencyKey)
        .values(
            user_id=user_id,
            key=key,
            scope=scope,
            request_hash=digest,
            state=IdempotencyState.IN_PROGRESS,
            expires_at=func.now() + timedelta(seconds=ttl),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.key)
    )
    if inserted.scalar_one_or_none() is not None:
        return None
    stored: IdempotencyKey | None = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    return stored


async def run_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    user_id: uuid.UUID,
    key: str | None,
    scope: str,
    request: Any,
    ttl: float,
    action: Callable[[], Awaitable[Answer]],
) -> Answer:
    """Runs ``action`` once per key; without a key, simply runs it."""
    if key is None:
        return await action()
    digest = request_hash(scope, request)
    async with unit_of_work(sessionmaker) as session:
        stored = await _claim(session, user_id, key, scope, digest, ttl)
    if stored is not None:
        if stored.request_hash != digest or stored.scope != scope:
            raise IdempotencyKeyReusedError()
        if stored.state == IdempotencyState.IN_PROGRESS or stored.response_status is None:
            raise IdempotencyKeyInProgressError()
        return Answer(stored.response_status, stored.response_body or {})

    where = (IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    try:
        try:
            answer = await action()
        except ShopError as error:
            if error.status >= 500:
                raise
            answer = problem_answer(error)
    except BaseException:
        await outlasting(lambda: _forget(sessionmaker, where), "forget an idempotency key")
        raise
    # Ridden over a database restart: a key left in progress would answer every retry
    # 409 until it expires, though the action is done.
    await outlasting(lambda: _store(sessionmaker, where, answer), "store an idempotent answer")
    return answer


async def _forget(sessionmaker: async_sessionmaker[AsyncSession], where: Any) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(delete(IdempotencyKey).where(*where))


async def _store(
    sessionmaker: async_sessionmaker[AsyncSession], where: Any, answer: Answer
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(IdempotencyKey)
            .where(*where)
            .values(
                state=IdempotencyState.DONE,
                response_status=answer.status,
                response_body=answer.body,
            )
        )


async def purge_expired(session: AsyncSession, limit: int = 1000) -> int:
    """Deletes up to ``limit`` expired keys; returns how many."""
    expired = (
        select(IdempotencyKey.user_id, IdempotencyKey.key)
        .where(IdempotencyKey.expires_at <= func.now())
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("expired")
    )
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.user_id == expired.c.user_id, IdempotencyKey.key == expired.c.key)
        .returning(IdempotencyKey.key)
    )
    return len(result.all())
