"""Background loops that live as long as the app: outbox workers, sweepers, reconcilers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Protocol

import structlog
from fastapi import FastAPI

from shop.kit.health import ReadinessCheck
from shop.kit.resource import Resource

log = structlog.get_logger("shop.background")


class Loop(Protocol):
    async def run_forever(self) -> None:
        """Works until cancelled, surviving its own errors."""


def background_resource(name: str, factory: Callable[[FastAPI], Loop]) -> Resource:
    """Runs ``factory(app).run_forever()`` as a task for the app's lifetime.

    The loop is at ``app.state.<name>`` and its task at ``app.state.<name>_task``;
    the readiness check ``name`` fails once the task has stopped. Shutdown cancels
    the task and waits for it.
    """

    @asynccontextmanager
    async def resource(app: FastAPI) -> AsyncIterator[Mapping[str, ReadinessCheck]]:
        loop = factory(app)
        task = asyncio.create_task(loop.run_forever(), name=name)
        setattr(app.state, name, loop)
        setattr(app.state, f"{name}_task", task)

        async def alive() -> None:
            if task.done():
                raise RuntimeError(f"{name} has stopped")

        try:
            yield {name: alive}
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # we are being cancelled ourselves
            except Exception:
                log.exception("background task had crashed", task=name)

    return resource
