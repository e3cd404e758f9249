"""Sessions in Redis: a session is alive while its key exists.

Every service checks that key when it verifies an access token, so deleting
it (logout, password reset, deactivation, refresh-token reuse) stops the
session's tokens everywhere at once.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from shop.kit.identity import session_key, user_sessions_key


class SessionStore:
    def __init__(self, redis: Redis, max_age_seconds: int) -> None:
        self.redis = redis
        # No session lives longer, so the set of a user's sessions outlives them all.
        self.max_age = max_age_seconds

    async def create(self, user_id: uuid.UUID, ttl_seconds: int) -> uuid.UUID:
        session_id = uuid.uuid4()
        await self._write(session_id, user_id, ttl_seconds, existing=False)
        return session_id

    async def extend(self, session_id: uuid.UUID, user_id: uuid.UUID, ttl_seconds: int) -> bool:
        """Pushes the session's expiry out; False, changing nothing, when it has ended.

        ``SET ... XX`` checks and extends in one step: a session revoked a moment
        earlier (logout, reset, reuse) is never written back to life."""
        return await self._write(session_id, user_id, ttl_seconds, existing=True)

    async def _write(
        self, session_id: uuid.UUID, user_id: uuid.UUID, ttl_seconds: int, *, existing: bool
    ) -> bool:
        written = await self.redis.set(
            session_key(session_id),
            str(user_id),
            ex=max(1, ttl_seconds),
            xx=existing,
            nx=not existing,
        )
        if not written:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(user_sessions_key(user_id), str(session_id))
            pipe.expire(user_sessions_key(user_id), self.max_age)
            await pipe.execute()
        return True

    async def revoke(self, session_id: uuid.UUID, user_id: uuid.UUID) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(session_key(session_id))
            pipe.srem(user_sessions_key(user_id), str(session_id))
            await pipe.execute()

    async def revoke_all(self, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> None:
        members = await self.redis.smembers(user_sessions_key(user_id))
        ids = [m.decode() if isinstance(m, bytes) else m for m in members]
        doomed = [sid for sid in ids if keep is None or sid != str(keep)]
        if not doomed:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(session_key(sid) for sid in doomed))
            pipe.srem(user_sessions_key(user_id), *doomed)
            await pipe.execute()
