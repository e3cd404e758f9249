"""Routes of the auth service, under ``/api/v1/auth``: parse, call a use case, respond."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from shop.auth import service
from shop.auth.schemas import (
    AdminUserOut,
    ChangePasswordIn,
    EmailIn,
    LoginIn,
    LogoutIn,
    ProfileUpdateIn,
    RefreshIn,
    RegisterIn,
    ResetIn,
    TokenIn,
    TokenPair,
    UserOut,
    UserPage,
    UserUpdateIn,
)
from shop.auth.service import Auth
from shop.auth.sessions import SessionStore
from shop.kit.clients import client_ip
from shop.kit.db import Session
from shop.kit.errors import problem_responses
from shop.kit.identity import AdminUser, CurrentUser
from shop.kit.redis import RedisClient
from shop.kit.validation import NO_NUL

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

# Answers that must not reveal whether an account exists take at least this long,
# so the extra work done for a real account cannot be timed.
UNIFORM_SECONDS = 0.25
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def get_auth(request: Request, session: Session, redis: RedisClient) -> Auth:
    state = request.app.state
    return Auth(
        session=session,
        settings=state.settings,
        keys=state.keys.ring(),
        sessions=SessionStore(redis, state.settings.session_max_age),
        throttle=state.login_throttle,
        recipient_limit=state.recipient_limit,
        emails=state.email_renderer,
        dummy_password_hash=state.dummy_password_hash,
    )


AuthContext = Annotated[Auth, Depends(get_auth)]


@asynccontextmanager
async def uniform_duration(seconds: float = UNIFORM_SECONDS) -> AsyncIterator[None]:
    started = time.monotonic()
    yield
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))


@router.post("/register", status_code=201, responses=problem_responses(409, 422))
async def register(body: RegisterIn, auth: AuthContext) -> UserOut:
    user = await service.register(auth, body.email, body.password, body.full_name)
    return UserOut.model_validate(user)


@router.post("/verify-email", responses=problem_responses(400, 422))
async def verify_email(body: TokenIn, auth: AuthContext) -> UserOut:
    return UserOut.model_validate(await service.verify_email(auth, body.token))


@router.post(
    "/resend-verification",
    status_code=202,
    response_class=Response,
    responses=problem_responses(422),
)
async def resend_verification(body: EmailIn, auth: AuthContext) -> Response:
    async with uniform_duration():
        await service.resend_verification(auth, body.email)
    return Response(status_code=202)


@router.post("/login", responses=problem_responses(401, 422, 429))
async def login(
    body: LoginIn, request: Request, response: Response, auth: AuthContext
) -> TokenPair:
    ip = client_ip(request, auth.settings.trusted_proxies)
    response.headers.update(NO_STORE)
    return await service.login(auth, body.email, body.password, ip)


@router.post("/refresh", responses=problem_responses(401, 422))
async def refresh(body: RefreshIn, response: Response, auth: AuthContext) -> TokenPair:
    response.headers.update(NO_STORE)
    return await service.refresh(auth, body.refresh_token)


@router.post("/logout", status_code=204, responses=problem_responses(401, 422))
async def logout(
    identity: CurrentUser, auth: AuthContext, body: LogoutIn | None = None
) -> Response:
    await service.logout(auth, identity, body.refresh_token if body else None)
    return Response(status_code=204)


@router.post(
    "/password/forgot", status_code=202, response_class=Response, responses=problem_responses(422)
)
async def forgot_password(body: EmailIn, auth: AuthContext) -> Response:
    async with uniform_duration():
        await service.forgot_password(auth, body.email)
    return Response(status_code=202)


@router.post("/password/reset", status_code=204, responses=problem_responses(400, 422))
async def reset_password(body: ResetIn, auth: AuthContext) -> Response:
    await service.reset_password(auth, body.token, body.new_password)
    return Response(status_code=204)


@router.post("/password/change", status_code=204, responses=problem_responses(400, 401, 422))
async def change_password(
    body: ChangePasswordIn, identity: CurrentUser, auth: AuthContext
) -> Response:
    await service.change_password(auth, identity, body.current_password, body.new_password)
    return Response(status_code=204)


@router.get("/me", responses=problem_responses(401))
async def me(identity: CurrentUser, auth: AuthContext) -> UserOut:
    return UserOut.model_validate(await service.get_user(auth, identity.user_id))


@router.patch("/me", responses=problem_responses(401, 422))
async def update_me(body: ProfileUpdateIn, identity: CurrentUser, auth: AuthContext) -> UserOut:
    user = await service.update_profile(auth, identity, body.full_name)
    return UserOut.model_validate(user)


@router.get("/users", responses=problem_responses(400, 401, 403))
async def list_users(
    _: AdminUser,
    auth: AuthContext,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    email: Annotated[
        str | None,
        Query(
            max_length=320,
            pattern=NO_NUL,
            description="Only users whose email contains this",
        ),
    ] = None,
) -> UserPage:
    users, next_cursor = await service.list_users(auth, limit, cursor, email)
    return UserPage(items=[AdminUserOut.model_validate(u) for u in users], next_cursor=next_cursor)


@router.get("/users/{user_id}", responses=problem_responses(401, 403, 404, 422))
async def read_user(user_id: uuid.UUID, _: AdminUser, auth: AuthContext) -> AdminUserOut:
    return AdminUserOut.model_validate(await service.get_user(auth, user_id))


@router.patch("/users/{user_id}", responses=problem_responses(401, 403, 404, 409, 422))
async def update_user(
    user_id: uuid.UUID, body: UserUpdateIn, admin: AdminUser, auth: AuthContext
) -> AdminUserOut:
    user = await service.update_user(auth, admin, user_id, body.roles, body.is_active)
    return AdminUserOut.model_validate(user)


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(request: Request, response: Response) -> dict[str, list[dict[str, Any]]]:
    response.headers["Cache-Control"] = "public, max-age=300"
    keys: dict[str, list[dict[str, Any]]] = request.app.state.keys.ring().jwks()
    return keys
