"""Request and response bodies of the auth API. Unknown fields are refused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shop.auth.models import Role
from shop.kit.validation import JsonBool, StrictInput


def _valid_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc


Email = Annotated[str, Field(max_length=320), AfterValidator(_valid_email)]
# Length is checked by the policy, which explains itself; this only bounds the input.
Password = Annotated[str, Field(min_length=1, max_length=1024)]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]


class Strict(StrictInput):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Strict):
    email: Email
    password: Password
    full_name: Annotated[str, Field(min_length=1, max_length=200)]


class LoginIn(Strict):
    # Any string: a malformed address fails like a wrong one, with the generic message.
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Password


class EmailIn(Strict):
    email: Annotated[str, Field(min_length=1, max_length=320)]


class TokenIn(Strict):
    token: OpaqueToken


class RefreshIn(Strict):
    refresh_token: OpaqueToken


class LogoutIn(Strict):
    refresh_token: OpaqueToken | None = None


class ResetIn(Strict):
    token: OpaqueToken
    new_password: Password


class ChangePasswordIn(Strict):
    current_password: Password
    new_password: Password


class ProfileUpdateIn(Strict):
    full_name: Annotated[str, Field(min_length=1, max_length=200)]


class UserUpdateIn(Strict):
    roles: Annotated[list[Role], Field(min_length=1, max_length=2)] | None = None
    is_active: JsonBool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    roles: list[Role]
    email_verified: bool
    created_at: datetime


class AdminUserOut(UserOut):
    is_active: bool


class UserPage(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int
