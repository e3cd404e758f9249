"""merge_documents: the services' OpenAPI documents folded into the gateway's."""

import copy
from typing import Any

from shop.gateway.openapi import merge_documents

REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def operation(returns: str, *, body: str | None = None, tag: str = "x") -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": [tag],
        "responses": {"200": {"content": {"application/json": {"schema": ref(returns)}}}},
    }
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": ref(body)}}}
    return op


def document(paths: dict[str, Any], schemas: dict[str, Any], tags: list[str]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "service", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
        "tags": [{"name": tag} for tag in tags],
    }


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def response_refs(merged: dict[str, Any]) -> list[dict[str, str]]:
    """The schema of each 200 response, in path order."""
    return [
        op["responses"]["200"]["content"]["application/json"]["schema"]
        for item in merged["paths"].values()
        for op in item.values()
        if "200" in op.get("responses", {}) and "content" in op["responses"]["200"]
    ]


BASE = {
    "openapi": "3.1.0",
    "info": {"title": "Shop API", "version": "0.1.0", "description": "The public API."},
    "paths": {"/health/live": {"get": {"responses": {"200": {}}}}},
}
INT = {"type": "integer"}
STR = {"type": "string"}


def test_paths_and_tags_of_each_service_are_added() -> None:
    auth = document(
        {"/api/v1/auth/me": {"get": operation("User", tag="auth")}},
        {"User": obj(id=INT)},
        ["auth", "shared"],
    )
    products = document(
        {"/api/v1/products": {"get": operation("Product", tag="products")}},
        {"Product": obj(id=INT)},
        ["products", "shared"],
    )
    merged = merge_documents(BASE, {"auth": auth, "products": products})
    assert list(merged["paths"]) == ["/health/live", "/api/v1/auth/me", "/api/v1/products"]
    assert merged["paths"]["/api/v1/auth/me"] == auth["paths"]["/api/v1/auth/me"]
    assert set(merged["components"]["schemas"]) == {"User", "Product"}
    assert [tag["name"] for tag in merged["tags"]] == ["auth", "shared", "products"]
    assert merged["info"] == BASE["info"]


def test_health_metrics_and_internal_paths_of_services_are_left_out() -> None:
    paths = {
        "/health/live": {"get": {"summary": "the service's"}},
        "/health/ready": {"get": {}},
        "/metrics": {"get": {}},
        "/internal/v1/reservations/{order_id}": {"put": {}},
        "/api/v1/orders": {"get": {}},
    }
    merged = merge_documents(BASE, {"orders": document(paths, {}, [])})
    assert set(merged["paths"]) == {"/health/live", "/api/v1/orders"}
    assert merged["paths"]["/health/live"] == BASE["paths"]["/health/live"]


def test_inputs_are_not_modified() -> None:
    base = copy.deepcopy(BASE)
    products = document({"/api/v1/products": {"get": operation("Item")}}, {"Item": obj(a=INT)}, [])
    orders = document({"/api/v1/orders": {"get": operation("Item")}}, {"Item": obj(b=INT)}, [])
    services = {"products": products, "orders": orders}
    pristine = copy.deepcopy(services)
    merge_documents(base, services)
    assert base == BASE
    assert services == pristine


def test_identical_schemas_are_shared() -> None:
    error = obj(detail={"type": "array", "items": ref("ValidationError")})
    schemas = {"HTTPValidationError": error, "ValidationError": obj(msg=STR)}
    services = {
        name: document({f"/api/v1/{name}": {"get": operation("HTTPValidationError")}}, schemas, [])
        for name in ("auth", "products", "orders")
    }
    merged = merge_documents(BASE, services)
    assert merged["components"]["schemas"] == schemas
    assert all(r == ref("HTTPValidationError") for r in response_refs(merged))


def test_schema_defined_differently_is_renamed_with_its_refs() -> None:
    products = document(
        {"/api/v1/products/{id}": {"get": operation("Item")}},
        {"Item": obj(name=STR, price=STR)},
        [],
    )
    orders = document(
        {"/api/v1/orders": {"post": operation("Order", body="Item")}},
        {"Item": obj(product_id=INT), "Order": obj(items={"type": "array", "items": ref("Item")})},
        [],
    )
    merged = merge_documents(BASE, {"products": products, "orders": orders})
    schemas = merged["components"]["schemas"]
    assert schemas["Item"] == products["components"]["schemas"]["Item"]
    assert schemas["orders_Item"] == orders["components"]["schemas"]["Item"]
    assert schemas["Order"]["properties"]["items"]["items"] == ref("orders_Item")
    post = merged["paths"]["/api/v1/orders"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == ref("orders_Item")
    assert response_refs(merged) == [ref("Item"), ref("Order")]


def test_schema_that_refers_to_a_renamed_one_is_renamed_too() -> None:
    # Page is spelled alike in both, but means a page of another Item in each.
    page = obj(items={"type": "array", "items": ref("Item")})
    products = document(
        {"/api/v1/products": {"get": operation("Page")}}, {"Page": page, "Item": obj(name=STR)}, []
    )
    orders = document(
        {"/api/v1/orders": {"get": operation("Page")}},
        {"Page": page, "Item": obj(quantity=INT)},
        [],
    )
    merged = merge_documents(BASE, {"products": products, "orders": orders})
    schemas = merged["components"]["schemas"]
    assert response_refs(merged) == [ref("Page"), ref("orders_Page")]
    assert schemas["orders_Page"]["properties"]["items"]["items"] == ref("orders_Item")
    assert schemas["Page"]["properties"]["items"]["items"] == ref("Item")
    assert set(schemas["orders_Item"]["properties"]) == {"quantity"}


def test_gateway_schemas_keep_their_names() -> None:
    base = {**BASE, "components": {"schemas": {"Status": obj(status=STR)}}}
    auth = document({"/api/v1/auth": {"get": operation("Status")}}, {"Status": obj(up=INT)}, [])
    merged = merge_documents(base, {"auth": auth})
    assert merged["components"]["schemas"]["Status"] == obj(status=STR)
    assert merged["components"]["schemas"]["auth_Status"] == obj(up=INT)
    assert response_refs(merged) == [ref("auth_Status")]


def test_other_references_are_left_alone() -> None:
    other = {"$ref": "#/components/responses/NotFound"}
    item = {"get": {"responses": {"404": other}}}
    products = document({"/api/v1/products": item}, {"Item": obj(a=INT)}, [])
    orders = document({"/api/v1/orders": item}, {"Item": obj(b=INT)}, [])
    merged = merge_documents(BASE, {"products": products, "orders": orders})
    assert merged["paths"]["/api/v1/orders"]["get"]["responses"]["404"] == other


def test_no_services_gives_the_base_document() -> None:
    merged = merge_documents(BASE, {})
    assert merged["paths"] == BASE["paths"]
    assert merged["components"] == {"schemas": {}}
