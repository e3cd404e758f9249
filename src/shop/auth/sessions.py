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
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    async def create(self, user_id: uuid.UUID) -> uuid.UUID:
        session_id = uuid.uuid4()
        await self.extend(session_id, user_id)
        return session_id

    async def extend(self, session_id: uuid.UUID, user_id: uuid.UUID) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(session_key(session_id), str(user_id), ex=self.ttl)
            pipe.sadd(user_sessions_key(user_id), str(session_id))
            pipe.expire(user_sessions_key(user_id), self.ttl)
            await pipe.execute()

    async def is_alive(self, session_id: uuid.UUID) -> bool:
        return bool(await self.redis.exists(session_key(session_id)))

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
