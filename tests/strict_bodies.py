"""The typed fields of every JSON request body an OpenAPI document describes, and
values of the wrong JSON type that a lax parser would accept for them.

Shared by each service's ``test_strict_types.py``: the fields are found in the
document the app itself publishes (``app.openapi()``), so a field added later is
checked without a change here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import strategies as st

from shop.kit.errors import PROBLEM_CONTENT_TYPE

Location = tuple[str | int, ...]
# What Pydantic's strict mode answers for a value of another JSON type.
WRONG_TYPE_MESSAGES = {
    "integer": "Input should be a valid integer",
    "number": "Input should be a valid number",
    "boolean": "Input should be a valid boolean",
}


@dataclass(frozen=True)
class TypedField:
    """An integer, number or boolean somewhere in an operation's JSON body."""

    method: str
    path: str
    location: Location
    kind: str
    minimum: float | None = None
    maximum: float | None = None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path} {self.field}"

    @property
    def field(self) -> str:
        """The field as the 422 problem's ``errors[].field`` names it."""
        return ".".join(str(part) for part in self.location)

    def url(self) -> str:
        """The path, its parameters filled with fresh UUIDs (the body is refused first)."""
        parts = [str(uuid.uuid4()) if p.startswith("{") else p for p in self.path.split("/")]
        return "/".join(parts)

    def body(self, value: Any) -> Any:
        """A body holding ``value`` at this field, and nothing else."""
        body: Any = value
        for part in reversed(self.location):
            body = [body] if isinstance(part, int) else {part: body}
        return body


def typed_body_fields(document: dict[str, Any]) -> list[TypedField]:
    """Every integer, number and boolean field of every JSON request body."""
    schemas = document.get("components", {}).get("schemas", {})
    found: list[TypedField] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = content["application/json"]["schema"]
                for location, kind, leaf in _leaves(schema, schemas, (), frozenset()):
                    found.append(
                        TypedField(
                            method,
                            path,
                            location,
                            kind,
                            leaf.get("minimum", leaf.get("exclusiveMinimum")),
                            leaf.get("maximum", leaf.get("exclusiveMaximum")),
                        )
                    )
    return found


def _leaves(
    schema: dict[str, Any], schemas: dict[str, Any], location: Location, seen: frozenset[str]
) -> list[tuple[Location, str, dict[str, Any]]]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:  # a recursive schema: its fields are found at the first level
            return []
        return _leaves(schemas[name], schemas, location, seen | {name})
    leaves = []
    for combined in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(combined, []):
            leaves += _leaves(option, schemas, location, seen)
    kind = schema.get("type")
    if kind in WRONG_TYPE_MESSAGES:
        leaves.append((location, kind, schema))
    for name, field in schema.get("properties", {}).items():
        leaves += _leaves(field, schemas, (*location, name), seen)
    if kind == "array" and isinstance(schema.get("items"), dict):
        leaves += _leaves(schema["items"], schemas, (*location, 0), seen)
    return leaves


def wrong_json_types(field: TypedField) -> st.SearchStrategy[Any]:
    """JSON values of another type that lax parsing would turn into a valid value of the
    field: booleans and numeric strings for numbers; 0/1 and their spellings for
    booleans."""
    if field.kind == "boolean":
        return st.sampled_from([0, 1, "true", "false", "1", "0", "yes", "no", "on", "off"])
    low = int(field.minimum) if field.minimum is not None else -(10**6)
    high = int(field.maximum) if field.maximum is not None else 10**6
    in_range = st.integers(min_value=low, max_value=high)
    numeric_strings = st.one_of(
        in_range.map(str),
        in_range.map(lambda n: f"{n}.0"),
        in_range.map(lambda n: f" {n} "),
    )
    return st.one_of(st.booleans(), numeric_strings)


def assert_wrong_type_refused(field: TypedField, value: Any, response: httpx.Response) -> None:
    """The answer is a 422 problem that names this field as of the wrong type."""
    context = f"{field} = {value!r}: {response.status_code} {response.text}"
    assert response.status_code == 422, context
    assert response.headers["content-type"].startswith(PROBLEM_CONTENT_TYPE), context
    messages = [e["message"] for e in response.json()["errors"] if e["field"] == field.field]
    assert any(m.startswith(WRONG_TYPE_MESSAGES[field.kind]) for m in messages), context
