"""The OpenAPI document says what the problem handlers answer, as they answer it."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from pydantic import BaseModel

from shop.kit.errors import PROBLEM_CONTENT_TYPE, install_problem_handlers, problem_responses


class Body(BaseModel):
    name: str


def _document() -> dict[str, object]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things/{thing_id}", responses=problem_responses(404, 409))
    async def change(thing_id: uuid.UUID, body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/things")
    async def listing(limit: int = 10) -> list[str]:
        return []

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    return app.openapi()


def test_declared_and_framework_problems_are_problem_json() -> None:
    paths = _document()["paths"]
    assert isinstance(paths, dict)
    change = paths["/things/{thing_id}"]["post"]["responses"]
    # Declared, a body that fails to parse, and a request that fails validation.
    for status in ("404", "409", "400", "422"):
        content = change[status]["content"]
        assert list(content) == [PROBLEM_CONTENT_TYPE], status
        assert content[PROBLEM_CONTENT_TYPE]["schema"]["required"] == [
            "type",
            "title",
            "status",
            "detail",
        ]
    listing = paths["/things"]["get"]["responses"]
    assert list(listing["422"]["content"]) == [PROBLEM_CONTENT_TYPE]
    assert "400" not in listing  # no body to parse
    assert set(paths["/plain"]["get"]["responses"]) == {"200"}


def test_descriptions_can_be_given() -> None:
    responses = problem_responses(404, descriptions={409: "Taken"})
    assert list(responses) == [404, 409]
    assert responses[409]["description"] == "Taken"
    assert responses[404]["description"] == "Not Found (problem)"
