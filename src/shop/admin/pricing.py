"""Promotions, shipping methods and tax rates: three lists of the same shape, each
with a create form, an edit page and delete, described by a :class:`Resource`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from shop.admin.api_client import ApiError
from shop.admin.sessions import Staff
from shop.admin.web import PREFIX, CheckedForm, CurrentStaff, minor_units, money, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)

Kind = Literal["text", "amount", "int", "bool", "list", "choice", "datetime"]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: Kind = "text"
    required: bool = False
    choices: tuple[str, ...] = ()

    def shown(self, value: Any) -> str:
        """The API's value as the form shows it."""
        if value is None:
            return ""
        if self.kind == "amount":
            return money(value)
        if self.kind == "list":
            return ", ".join(value)
        if self.kind == "bool":
            return "on" if value else ""
        return str(value)

    def parsed(self, form: FormData, errors: dict[str, str]) -> Any:
        raw = form.get(self.name)
        text = raw.strip() if isinstance(raw, str) else ""
        if self.kind == "bool":
            return bool(text)
        if not text:
            if self.required:
                errors[self.name] = f"Enter the {self.label.lower()}."
            return None
        try:
            if self.kind == "amount":
                return minor_units(text)
            if self.kind == "int":
                return int(text)
        except ValueError as exc:
            errors[self.name] = str(exc) if self.kind == "amount" else "Enter a whole number."
            return None
        if self.kind == "list":
            return [part.strip().upper() for part in text.split(",") if part.strip()]
        return text


@dataclass(frozen=True)
class Resource:
    path: str  # under /admin and under /api/v1
    title: str
    singular: str
    fields: tuple[Field, ...]
    label_of: str  # the field that names an item
    section: str  # its entry in the navigation

    def body(self, form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
        errors: dict[str, str] = {}
        body = {field.name: field.parsed(form, errors) for field in self.fields}
        return body, errors

    def values(self, item: dict[str, Any]) -> dict[str, str]:
        return {field.name: field.shown(item.get(field.name)) for field in self.fields}


RESOURCES = [
    Resource(
        "promotions",
        "Promotions",
        "promotion",
        (
            Field("code", "Code", required=True),
            Field("kind", "Kind", "choice", True, ("percentage", "fixed", "free_shipping")),
            Field("value", "Value (percent, or minor units for a fixed discount)", "int"),
            Field("min_subtotal", "Minimum subtotal", "amount"),
            Field("starts_at", "Starts at (RFC 3339, e.g. 2026-01-01T00:00:00Z)", "datetime"),
            Field("ends_at", "Ends at (RFC 3339)", "datetime"),
            Field("usage_limit", "Usage limit", "int"),
            Field("per_customer_limit", "Uses per customer", "int"),
            Field("active", "Active", "bool"),
        ),
        "code",
        "Promotions",
    ),
    Resource(
        "shipping-methods",
        "Shipping methods",
        "shipping method",
        (
            Field("name", "Name", required=True),
            Field("countries", "Countries (ISO codes, comma-separated, or *)", "list", True),
            Field("price", "Price", "amount", True),
            Field("free_over", "Free from a subtotal of", "amount"),
            Field("min_days", "Minimum days", "int", True),
            Field("max_days", "Maximum days", "int", True),
            Field("active", "Active", "bool"),
        ),
        "name",
        "Shipping",
    ),
    Resource(
        "tax-rates",
        "Tax rates",
        "tax rate",
        (
            Field("country", "Country (ISO code)", required=True),
            Field("region", "Region (optional)"),
            Field("name", "Name", required=True),
            Field("rate_bp", "Rate in basis points (2000 is 20 %)", "int", True),
            Field("applies_to_shipping", "Applies to shipping", "bool"),
        ),
        "name",
        "Tax rates",
    ),
]


async def _items(staff: Staff, resource: Resource) -> list[dict[str, Any]]:
    """Every item (these lists are short: a shop has tens of them)."""
    items: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(20):
        page = await staff.get(f"/{resource.path}", limit=100, cursor=cursor)
        items += page["items"]
        cursor = page.get("next_cursor") or ""
        if not cursor:
            break
    return items


def _routes(resource: Resource) -> None:
    base = f"/{resource.path}"

    async def list_page(
        request: Request,
        staff: Staff,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        return render(
            request,
            "pricing/list.html",
            {
                "section": resource.section,
                "resource": resource,
                "items": await _items(staff, resource),
                "form": form if form is not None else {"active": "on"},
                "errors": errors or {},
                "error": error,
            },
            staff=staff,
            status_code=status_code,
        )

    async def edit_page(
        request: Request,
        staff: Staff,
        item_id: uuid.UUID,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        item = next((i for i in await _items(staff, resource) if i["id"] == str(item_id)), None)
        if item is None:
            raise ApiError(404, f"No such {resource.singular}")
        return render(
            request,
            "pricing/edit.html",
            {
                "section": resource.section,
                "resource": resource,
                "item": item,
                "form": form if form is not None else resource.values(item),
                "errors": errors or {},
                "error": error,
            },
            staff=staff,
            status_code=status_code,
        )

    async def show_list(request: Request, staff: CurrentStaff) -> Response:
        return await list_page(request, staff)

    async def create(request: Request, staff: CurrentStaff, form: CheckedForm) -> Response:
        body, errors = resource.body(form)
        if errors:
            return await list_page(
                request, staff, dict(form), errors, "Some fields need a correction.", 422
            )
        try:
            await staff.send("POST", base, {k: v for k, v in body.items() if v is not None})
        except ApiError as exc:
            return await list_page(
                request, staff, dict(form), exc.field_errors(), exc.message(), exc.status
            )
        return redirect(f"{base}?notice=created")

    async def show_edit(request: Request, staff: CurrentStaff, item_id: uuid.UUID) -> Response:
        return await edit_page(request, staff, item_id)

    async def update(
        request: Request, staff: CurrentStaff, form: CheckedForm, item_id: uuid.UUID
    ) -> Response:
        body, errors = resource.body(form)
        if errors:
            return await edit_page(
                request, staff, item_id, dict(form), errors, "Some fields need a correction.", 422
            )
        try:
            await staff.send("PATCH", f"{base}/{item_id}", body)
        except ApiError as exc:
            return await edit_page(
                request, staff, item_id, dict(form), exc.field_errors(), exc.message(), exc.status
            )
        return redirect(f"{base}?notice=saved")

    async def delete(
        request: Request, staff: CurrentStaff, _: CheckedForm, item_id: uuid.UUID
    ) -> Response:
        try:
            await staff.send("DELETE", f"{base}/{item_id}")
        except ApiError as exc:
            return await list_page(request, staff, error=exc.message(), status_code=exc.status)
        return redirect(f"{base}?notice=deleted")

    router.add_api_route(base, show_list, methods=["GET"])
    router.add_api_route(base, create, methods=["POST"])
    router.add_api_route(base + "/{item_id}", show_edit, methods=["GET"])
    router.add_api_route(base + "/{item_id}", update, methods=["POST"])
    router.add_api_route(base + "/{item_id}/delete", delete, methods=["POST"])


for _resource in RESOURCES:
    _routes(_resource)
