"""A service built on the kit, with routes that exercise each of its parts."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from shop.kit.app import create_service_app
from shop.kit.config import DatabaseSettings
from shop.kit.db import Session, database_resource
from shop.kit.errors import ConflictError, NotFoundError
from shop.kit.http import create_http_client
from shop.kit.redis import redis_resource


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=100)
    fail_after_write: bool = False


class SecretError(RuntimeError):
    pass


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/probe")

    @router.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        if item_id == 404:
            raise NotFoundError("No item 404 here.")
        if item_id == 409:
            raise ConflictError("Item 409 conflicts.", errors=[{"field": "id", "message": "taken"}])
        return {"id": item_id}

    @router.get("/boom")
    async def boom() -> None:
        raise SecretError("password=hunter2 at db-internal.example:5432")

    @router.post("/notes", status_code=201)
    async def add_note(note: Note, session: Session) -> dict[str, str]:
        await session.execute(text("INSERT INTO probe_notes (body) VALUES (:b)"), {"b": note.body})
        if note.fail_after_write:
            raise ConflictError("Rejected after the write.")
        return {"body": note.body}

    @router.post("/echo-size")
    async def echo_size(note: Note) -> dict[str, int]:
        return {"length": len(note.body)}

    @router.get("/relay")
    async def relay(target: str) -> dict[str, str]:
        async with create_http_client() as client:
            response = await client.get(target)
        return {"forwarded_request_id": response.json()["request_id"]}

    @router.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(0.2)
        return {"status": "done"}

    return router


def create_probe_app(database_url: str, redis_url: str, max_body_bytes: int = 1024) -> FastAPI:
    settings = DatabaseSettings(
        service_name="probe",
        database_url=database_url,
        redis_url=redis_url,
        max_body_bytes=max_body_bytes,
        log_format="json",
    )
    return create_service_app(
        settings,
        title="Probe",
        routers=[probe_router()],
        resources=[database_resource(settings), redis_resource(settings.redis_url)],
    )
