"""Idempotency-Key: a repeated request gets the first answer and does nothing again.

A key belongs to a user and is remembered with the scope (``place``,
``cancel:<order id>``) and a SHA-256 of the canonical request. The first
request inserts it ``in_progress`` in a transaction of its own (``INSERT ...
ON CONFLICT DO NOTHING``, so of concurrent repeats exactly one wins), then
runs; its answer (status and body) is stored and the key marked ``done``: in
the transaction of the change the answer reports when the action does so
(``record_answer``: a placement, with the order's confirmation), else in one
of its own after it.

- A repeat with the same request gets the stored answer.
- A repeat with another request (or scope) is a 422.
- A repeat while the first still runs is a 409.
- A 5xx answer is not stored: the key is deleted, so the client may retry.
- Storing the answer (or deleting the key) outlasts a short database outage
  (``shop.kit.outages.outlasting``), so that a restart does not leave a done
  request's key in progress.
- Keys expire after ``idempotency_ttl_seconds`` (24 h); an expired key counts
  as absent, and the reconciler purges them.

**Leases.** A request that dies (its process killed) leaves its key in
progress. So the request holds the key under a *lease*: a token of its own
and the time the lease ends (``lease_expires_at``; for a placement, the
placement deadline plus a margin, past which the reconciler has cancelled
an order still pending, so the request can no longer confirm anything).
While the lease lasts, a repeat is a 409. A placement records the order it
created on the key (``order_id``), in the transaction that records the
pending order, and only while the key is still its own and has no order: so
a key never has more than one order. After the lease ended, a repeat

- of a key with an order answers from the order's final state (``settle``:
  placed, the order as the first request would have answered it; cancelled,
  the refusal; still pending, it is settled first), and stores that answer;
- of a key without an order (the request died before recording one, or did
  something that records none, e.g. a cancel) takes the key over with a
  lease of its own and runs the request again. A request that outlived its
  lease and finds its key taken over changes nothing and answers 409.

Every write of a request to its key (the order, the answer, the deletion
after a 5xx) names its lease token, so a request never writes over the
request that took its key over; and a request past its lease never deletes
its key, which is then answered from its order.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shop.kit.db import after_commit, unit_of_work
from shop.kit.errors import PROBLEM_TYPE_BASE, ShopError, problem_body
from shop.kit.outages import outlasting
from shop.orders.errors import IdempotencyKeyInProgressError, IdempotencyKeyReusedError
from shop.orders.models import IdempotencyKey, IdempotencyState

log = structlog.get_logger("shop.orders.idempotency")


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


@dataclass
class Lease:
    """A request's hold on its key, which it names in every write to the key."""

    user_id: uuid.UUID
    key: str
    token: uuid.UUID
    # Set once the request's answer is committed with the change it reports
    # (record_answer): run_once then has nothing left to store.
    answered: bool = field(default=False, compare=False)

    def where(self) -> tuple[ColumnElement[bool], ...]:
        return (
            IdempotencyKey.user_id == self.user_id,
            IdempotencyKey.key == self.key,
            IdempotencyKey.lease_token == self.token,
            IdempotencyKey.state == IdempotencyState.IN_PROGRESS,
        )


class LeaseLostError(Exception):
    """Another request took the key over (this one outlived its lease): change nothing."""


async def record_order(session: AsyncSession, lease: Lease | None, order_id: uuid.UUID) -> None:
    """Binds the order to the key, in the transaction that records the order; raises
    LeaseLostError (the transaction then rolls back) unless the key is still this
    request's and has no order yet."""
    if lease is None:
        return
    bound = await session.execute(
        update(IdempotencyKey)
        .where(*lease.where(), IdempotencyKey.order_id.is_(None))
        .values(order_id=order_id)
        .returning(IdempotencyKey.key)
    )
    if bound.scalar_one_or_none() is None:
        raise LeaseLostError()


async def record_answer(session: AsyncSession, lease: Lease | None, answer: Answer) -> None:
    """Stores the answer in the transaction of the change it reports, so that the key is
    done exactly when the change is committed (one transaction fewer than after it). No
    effect unless the key is still this request's."""
    if lease is None:
        return
    stored = await session.execute(
        update(IdempotencyKey)
        .where(*lease.where())
        .values(_done(answer))
        .returning(IdempotencyKey.key)
    )
    if stored.scalar_one_or_none() is not None:

        async def answered() -> None:
            lease.answered = True

        after_commit(session, answered)


@dataclass(frozen=True)
class _Claim:
    lease: Lease | None = None  # the key is ours to run the request under
    stored: IdempotencyKey | None = None  # or: the key as another request left it
    lapsed: bool = False  # whether that request's lease has ended


async def _claim(
    session: AsyncSession,
    user_id: uuid.UUID,
    key: str,
    scope: str,
    digest: str,
    ttl: float,
    lease_seconds: float,
) -> _Claim:
    lease = Lease(user_id, key, uuid.uuid4())
    lease_ends = func.now() + timedelta(seconds=lease_seconds)
    fresh = insert(IdempotencyKey).values(
        user_id=user_id,
        key=key,
        scope=scope,
        request_hash=digest,
        state=IdempotencyState.IN_PROGRESS,
        expires_at=func.now() + timedelta(seconds=ttl),
        lease_token=lease.token,
        lease_expires_at=lease_ends,
    )
    # A new key, or one that expired (it counts as absent: it starts afresh); a live
    # key is left as it is, and nothing is returned.
    inserted = await session.execute(
        fresh.on_conflict_do_update(
            index_elements=["user_id", "key"],
            set_={
                "scope": fresh.excluded.scope,
                "request_hash": fresh.excluded.request_hash,
                "state": fresh.excluded.state,
                "response_status": None,
                "response_body": None,
                "created_at": func.now(),
                "expires_at": fresh.excluded.expires_at,
                "lease_token": fresh.excluded.lease_token,
                "lease_expires_at": fresh.excluded.lease_expires_at,
                "order_id": None,
            },
            where=IdempotencyKey.expires_at <= func.now(),
        ).returning(IdempotencyKey.key)
    )
    if inserted.scalar_one_or_none() is not None:
        return _Claim(lease=lease)
    # Locked: of concurrent repeats after a lease ended, one takes the key over.
    row = (
        await session.execute(
            select(IdempotencyKey, IdempotencyKey.lease_expires_at <= func.now())
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:  # deleted meanwhile (a 5xx): the client may simply retry
        raise IdempotencyKeyInProgressError()
    stored, lapsed = row
    if stored.request_hash != digest or stored.scope != scope:
        raise IdempotencyKeyReusedError()
    if stored.state == IdempotencyState.IN_PROGRESS and lapsed and stored.order_id is None:
        # The request died before it did anything the key remembers: take it over.
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .values(lease_token=lease.token, lease_expires_at=lease_ends)
        )
        log.warning("idempotency key taken over after its lease ended", scope=scope)
        return _Claim(lease=lease)
    return _Claim(stored=stored, lapsed=bool(lapsed))


async def run_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    user_id: uuid.UUID,
    key: str | None,
    scope: str,
    request: Any,
    ttl: float,
    lease: float,
    action: Callable[[Lease | None], Awaitable[Answer]],
    settle: Callable[[uuid.UUID], Awaitable[Answer]] | None = None,
) -> Answer:
    """Runs ``action`` once per key; without a key, simply runs it. ``lease`` is how
    long the request holds the key; ``settle`` answers from the order a request whose
    lease ended recorded on its key."""
    if key is None:
        return await action(None)
    digest = request_hash(scope, request)
    async with unit_of_work(sessionmaker) as session:
        claim = await _claim(session, user_id, key, scope, digest, ttl, lease)
    if claim.stored is not None:
        stored = claim.stored
        if stored.state == IdempotencyState.DONE and stored.response_status is not None:
            return Answer(stored.response_status, stored.response_body or {})
        if not claim.lapsed or stored.order_id is None or settle is None:
            raise IdempotencyKeyInProgressError()
        return await _settled(sessionmaker, stored, settle)

    assert claim.lease is not None
    where = claim.lease.where()
    try:
        try:
            answer = await action(claim.lease)
        except ShopError as error:
            if error.status >= 500:
                raise
            answer = problem_answer(error)
    except LeaseLostError:
        raise IdempotencyKeyInProgressError() from None
    except BaseException:
        # Past its lease, the key is left to be answered from its order.
        live = (*where, IdempotencyKey.lease_expires_at > func.now())
        await outlasting(lambda: _forget(sessionmaker, live), "forget an idempotency key")
        raise
    if claim.lease.answered:  # stored with the action's change
        return answer
    # Ridden over a database restart: a key left in progress would answer every retry
    # 409 until its lease ends, though the action is done.
    await outlasting(lambda: _store(sessionmaker, where, answer), "store an idempotent answer")
    return answer


async def _settled(
    sessionmaker: async_sessionmaker[AsyncSession],
    stored: IdempotencyKey,
    settle: Callable[[uuid.UUID], Awaitable[Answer]],
) -> Answer:
    """The answer of a request that died after recording its order, from the order."""
    assert stored.order_id is not None
    try:
        answer = await settle(stored.order_id)
    except IdempotencyKeyInProgressError:
        raise
    except ShopError as error:
        if error.status >= 500:
            raise
        answer = problem_answer(error)
    where = (
        IdempotencyKey.user_id == stored.user_id,
        IdempotencyKey.key == stored.key,
        IdempotencyKey.order_id == stored.order_id,
        IdempotencyKey.state == IdempotencyState.IN_PROGRESS,
    )
    await outlasting(lambda: _store(sessionmaker, where, answer), "store an idempotent answer")
    log.warning(
        "idempotency key answered from its order after its lease ended",
        order_id=str(stored.order_id),
        status=answer.status,
    )
    return answer


async def _forget(sessionmaker: async_sessionmaker[AsyncSession], where: Any) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(delete(IdempotencyKey).where(*where))


async def _store(
    sessionmaker: async_sessionmaker[AsyncSession], where: Any, answer: Answer
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(update(IdempotencyKey).where(*where).values(_done(answer)))


def _done(answer: Answer) -> dict[str, Any]:
    """The values of a key that holds its answer."""
    return {
        "state": IdempotencyState.DONE,
        "response_status": answer.status,
        "response_body": answer.body,
    }


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
