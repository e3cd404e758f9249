"""A service with a slow route, served by ``shop serve``'s own server code.

Run as ``python -m tests.cli.drain_app PORT GRACE_SECONDS MARKER``: ``GET /slow``
creates the file ``MARKER`` (so the test knows the request is in flight), then
answers after ``?seconds=`` seconds.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from fastapi import APIRouter, FastAPI

from shop.cli.serve import run_app
from shop.kit.app import create_service_app
from shop.kit.config import ServiceSettings


def create_drain_app(port: int, grace: int, marker: Path) -> FastAPI:
    router = APIRouter()

    @router.get("/slow")
    async def slow(seconds: float) -> dict[str, float]:
        await asyncio.to_thread(marker.touch)
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    settings = ServiceSettings(
        service_name="drain-probe",
        port=port,
        shutdown_grace_seconds=grace,
        log_format="json",
        _env_file=None,  # type: ignore[call-arg]
    )
    return create_service_app(settings, title="Drain probe", routers=[router])


if __name__ == "__main__":
    port, grace, marker = sys.argv[1:4]
    sys.exit(run_app(create_drain_app(int(port), int(grace), Path(marker))))
