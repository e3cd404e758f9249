"""Signed-in staff: the API's tokens kept in Redis, behind an opaque cookie.

The browser holds only a random session id (HttpOnly, SameSite=Strict); Redis holds
the access and refresh tokens under the id's SHA-256, so a dump of Redis gives no
cookie. The access token is refreshed with the API's rotating refresh token when it
is about to expire or the API refuses it, one refresh at a time per session (a lock):
two pages loading at once must not both present the same refresh token, which the
API takes for a stolen one and answers by revoking the whole session.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

from shop.admin.api_client import ApiClient, ApiError

KEY_PREFIX = "admin:session:"
# Refreshed this long before the access token expires, so no call is sent with a token
# that expires on the way.
REFRESH_MARGIN_SECONDS = 30


class SignInRequiredError(Exception):
    """No session, an expired one, or one the API no longer honours."""

    def __init__(self, notice: str = "") -> None:
        super().__init__(notice)
        self.notice = notice


@dataclass
class StoredSession:
    user_id: str
    email: str
    access_token: str
    refresh_token: str
    access_expires_at: float
    csrf_token: str


def _key(session_id: str) -> str:
    return KEY_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(self, redis: Redis, idle_seconds: int) -> None:
        self.redis = redis
        self.idle_seconds = idle_seconds

    async def create(self, session: StoredSession) -> str:
        session_id = secrets.token_urlsafe(32)
        await self.save(session_id, session)
        return session_id

    async def save(self, session_id: str, session: StoredSession) -> None:
        await self.redis.set(_key(session_id), json.dumps(asdict(session)), ex=self.idle_seconds)

    async def load(self, session_id: str) -> StoredSession | None:
        """The session, its idle time restarted; None when there is none."""
        raw = await self.redis.getex(_key(session_id), ex=self.idle_seconds)
        if raw is None:
            return None
        return StoredSession(**json.loads(raw))

    async def delete(self, session_id: str) -> None:
        await self.redis.delete(_key(session_id))

    def refresh_lock(self, session_id: str) -> Any:
        return self.redis.lock(_key(session_id) + ":refresh", timeout=30, blocking_timeout=30)


def session_from_tokens(pair: dict[str, Any], user: dict[str, Any]) -> StoredSession:
    return StoredSession(
        user_id=str(user["id"]),
        email=str(user["email"]),
        access_token=str(pair["access_token"]),
        refresh_token=str(pair["refresh_token"]),
        access_expires_at=time.time() + float(pair.get("expires_in", 0)),
        csrf_token=secrets.token_urlsafe(32),
    )


class Staff:
    """The signed-in admin of one request, and the API as they may call it."""

    def __init__(
        self,
        session_id: str,
        session: StoredSession,
        store: SessionStore,
        api: ApiClient,
        client: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.session = session
        self.store = store
        self.api = api
        self.client = client  # the browser's address

    @property
    def email(self) -> str:
        return self.session.email

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    async def _refresh(self, used_token: str) -> None:
        async with self.store.refresh_lock(self.session_id):
            current = await self.store.load(self.session_id)
            if current is None:
                raise SignInRequiredError("Your session has ended. Please sign in again.")
            if current.access_token != used_token:  # another request refreshed meanwhile
                self.session = current
                return
            try:
                response = await self.api.call(
                    "POST",
                    "/auth/refresh",
                    client=self.client,
                    json={"refresh_token": current.refresh_token},
                )
            except ApiError as exc:
                if exc.status in (400, 401, 403, 422):
                    await self.store.delete(self.session_id)
                    raise SignInRequiredError(
                        "Your session has ended. Please sign in again."
                    ) from exc
                raise
            pair = response.json()
            current.access_token = pair["access_token"]
            current.refresh_token = pair["refresh_token"]
            current.access_expires_at = time.time() + float(pair.get("expires_in", 0))
            await self.store.save(self.session_id, current)
            self.session = current

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The API call with this admin's token, refreshed first when it is about to
        expire, and once more if the API refuses it (401)."""
        if self.session.access_expires_at - time.time() < REFRESH_MARGIN_SECONDS:
            await self._refresh(self.session.access_token)
        try:
            return await self.api.call(
                method, path, token=self.session.access_token, client=self.client, **kwargs
            )
        except ApiError as exc:
            if exc.status != 401:
                raise
        await self._refresh(self.session.access_token)
        try:
            return await self.api.call(
                method, path, token=self.session.access_token, client=self.client, **kwargs
            )
        except ApiError as exc:
            if exc.status == 401:
                await self.store.delete(self.session_id)
                raise SignInRequiredError("Your session has ended. Please sign in again.") from exc
            raise

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.call("GET", path, params=params)).json()

    async def send(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """A write; the answer's JSON, or None for 204."""
        response = await self.call(method, path, json=body, **kwargs)
        return response.json() if response.content else None
