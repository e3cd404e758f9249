"""Request bodies that PostgreSQL can store: the base of every service's input models.

JSON may carry text PostgreSQL refuses: the NUL character (``\\u0000``) in a text or
JSONB value, or a lone UTF-16 surrogate (``\\ud800``), which is not UTF-8 at all. Left
to the database, each would be a 500; refused here, it is a 422 like any other invalid
field. Unknown fields are refused too.

Numbers and booleans in a body are taken only as JSON writes them (:data:`JsonInt`,
:data:`JsonBool`): lax Pydantic would read ``true`` as 1 and ``"5"`` as 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Strict, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

# For a text query or path parameter that reaches a query: PostgreSQL refuses NUL.
NO_NUL = r"^[^\x00]*$"

# The integer and boolean of every request body field (Pydantic's strict mode): a JSON
# boolean is not an integer, a numeric string is not a number, 1 is not true. Only for
# bodies: query and path parameters arrive as text and are converted as usual.
JsonInt = Annotated[int, Strict()]
JsonBool = Annotated[bool, Strict()]


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(item) for item in value)
    return False


class StrictInput(BaseModel):
    """A request body: no unknown fields, no text PostgreSQL can't store."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if _unstorable(data):
            raise ValueError("text must not contain NUL characters or lone surrogates")
        return data


# A problem a validator found, at its field's path below the model being validated:
# (("variants", 2, "options", "Size"), "'XL' is not a declared value of option 'Size'").
FieldProblem = tuple[tuple[str | int, ...], str]


def invalid_fields(title: str, problems: Sequence[FieldProblem]) -> ValidationError:
    """The error a model validator raises to name the fields at fault, where a
    ``ValueError`` would put every problem on the model itself (``body``). Pydantic keeps
    the paths, prefixed with the model's own place, so the 422's ``errors`` say
    ``variants.2.options.Size`` and a form can show each message next to its input."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("invalid_field", message), loc=path, input=None
            )
            for path, message in problems
        ],
    )
