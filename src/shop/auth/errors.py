"""The auth service's business errors; each carries its own status (see shop.kit.errors)."""

from typing import Any

from shop.kit.errors import ShopError


class EmailTakenError(ShopError):
    status = 409
    title = "Email already registered"
    type_slug = "email-taken"


class WeakPasswordError(ShopError):
    status = 422
    title = "Password too weak"
    type_slug = "weak-password"

    def __init__(self, field: str, problems: list[str]) -> None:
        errors: list[dict[str, Any]] = [{"field": field, "message": p} for p in problems]
        super().__init__("The password does not meet the policy.", errors=errors)


class InvalidCredentialsError(ShopError):
    status = 401
    title = "Invalid credentials"
    type_slug = "invalid-credentials"

    def __init__(self) -> None:
        # One message for every failure: unknown email, wrong password, inactive account.
        super().__init__("The email or password is incorrect.")


class InvalidRefreshTokenError(ShopError):
    status = 401
    title = "Invalid refresh token"
    type_slug = "invalid-refresh-token"

    def __init__(self) -> None:
        super().__init__("The refresh token is invalid, expired or already used.")


class InvalidOneTimeTokenError(ShopError):
    status = 400
    title = "Invalid or expired link"
    type_slug = "invalid-link"

    def __init__(self) -> None:
        super().__init__("The link is invalid, expired or already used.")


class WrongCurrentPasswordError(ShopError):
    status = 400
    title = "Current password is incorrect"
    type_slug = "wrong-current-password"


class UserNotFoundError(ShopError):
    status = 404
    title = "User not found"
    type_slug = "user-not-found"


class SelfLockoutError(ShopError):
    status = 409
    title = "Cannot lock yourself out"
    type_slug = "self-lockout"
