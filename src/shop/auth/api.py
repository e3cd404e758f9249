"""Routes of the auth service, under ``/api/v1/auth``."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks() -> dict[str, list[dict[str, str]]]:
    # No signing key exists until token issuance lands; the set is honestly empty.
    return {"keys": []}
