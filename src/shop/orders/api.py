"""Routes of the orders service, under ``/api/v1/orders``."""

from fastapi import APIRouter

from shop.kit.errors import ShopError

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


class AuthenticationRequiredError(ShopError):
    status = 401
    title = "Authentication required"
    type_slug = "authentication-required"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


@router.get(
    "",
    summary="Your orders, newest first",
    responses={401: {"description": "No valid access token"}},
)
async def list_orders() -> None:
    # Every orders route needs a verified identity; until token verification
    # lands, no token can be verified, so every caller is unauthenticated.
    raise AuthenticationRequiredError("A valid bearer access token is required.")
