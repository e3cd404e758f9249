"""The gateway's /openapi.json: every service's paths in one document, and /docs."""

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from tests.gateway.services import dead_url, gateway_client, gateway_settings, health_routes
from tests.support import served

REF = "#/components/schemas/"


def auth_app() -> FastAPI:
    class Credentials(BaseModel):
        email: str
        password: str

    class Token(BaseModel):
        access_token: str

    app = FastAPI(title="auth")
    health_routes(app)

    @app.post("/api/v1/auth/login", tags=["auth"])
    async def login(credentials: Credentials) -> Token:
        return Token(access_token=credentials.email)

    return app


def products_app() -> FastAPI:
    class Item(BaseModel):
        name: str
        price: float

    app = FastAPI(title="products")
    health_routes(app)

    @app.get("/api/v1/products/{product_id}", tags=["products"])
    async def get_product(product_id: int) -> Item:
        return Item(name=str(product_id), price=1.0)

    @app.get("/health/deep")
    async def deep() -> dict[str, str]:
        return {}

    @app.get("/metrics")
    async def metrics() -> str:
        return ""

    return app


def orders_app() -> FastAPI:
    class Item(BaseModel):  # the same name as the products service's, another shape
        product_id: int
        quantity: int

    class Order(BaseModel):
        id: int
        items: list[Item]

    app = FastAPI(title="orders")
    health_routes(app)

    @app.post("/api/v1/orders", tags=["orders"])
    async def add_order(item: Item) -> Order:
        return Order(id=1, items=[item])

    @app.get("/api/v1/orders/{order_id}", tags=["orders", "products"])
    async def get_order(order_id: int) -> Order:
        return Order(id=order_id, items=[])

    return app


def admin_app() -> FastAPI:
    """The dashboard: pages, which its own document lists but the API's must not."""
    app = FastAPI()
    health_routes(app)

    @app.get("/admin/")
    async def overview() -> dict[str, str]:
        return {}

    return app


@pytest.fixture(scope="module")
def documented() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        apps = {
            "auth": auth_app(),
            "products": products_app(),
            "orders": orders_app(),
            "admin": admin_app(),
        }
        yield {name: stack.enter_context(served(app)) for name, app in apps.items()}


@pytest.fixture
async def merged(documented: dict[str, str]) -> dict[str, Any]:
    async with gateway_client(gateway_settings(documented)) as gateway:
        response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs_in(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in refs_in(item)]
    return []


def body_ref(operation: dict[str, Any]) -> str:
    ref: str = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return ref


def response_ref(operation: dict[str, Any]) -> str:
    ref: str = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return ref


async def test_paths_of_every_service_are_merged(merged: dict[str, Any]) -> None:
    assert merged["info"]["title"] == "Shop API"
    assert "Unavailable" not in merged["info"]["description"]
    assert {
        "/api/v1/auth/login",
        "/api/v1/products/{product_id}",
        "/api/v1/orders",
        "/api/v1/orders/{order_id}",
        "/health/live",  # the gateway's own
    } <= merged["paths"].keys()
    # A service's own operational endpoints are not part of the public API.
    assert "/health/deep" not in merged["paths"]
    assert "/metrics" not in merged["paths"]
    tags = [tag["name"] for tag in merged.get("tags", [])]
    assert len(tags) == len(set(tags))


async def test_conflicting_schemas_are_renamed_and_refs_follow(merged: dict[str, Any]) -> None:
    schemas = merged["components"]["schemas"]
    paths = merged["paths"]
    # The first service keeps the name; the second's differing Item is renamed.
    assert set(schemas["Item"]["properties"]) == {"name", "price"}
    assert set(schemas["orders_Item"]["properties"]) == {"product_id", "quantity"}
    assert response_ref(paths["/api/v1/products/{product_id}"]["get"]) == REF + "Item"
    assert body_ref(paths["/api/v1/orders"]["post"]) == REF + "orders_Item"
    assert response_ref(paths["/api/v1/orders"]["post"]) == REF + "Order"
    assert schemas["Order"]["properties"]["items"]["items"]["$ref"] == REF + "orders_Item"
    # Identical schemas (FastAPI's validation errors, in every service) are shared.
    assert "HTTPValidationError" in schemas
    assert not [name for name in schemas if name.endswith("_HTTPValidationError")]
    # And every reference in the document points at a schema that exists.
    refs = refs_in(merged)
    assert refs
    assert all(ref.startswith(REF) and ref[len(REF) :] in schemas for ref in refs)


async def test_down_service_is_left_out_and_named(documented: dict[str, str]) -> None:
    settings = gateway_settings(documented, orders_urls=[dead_url()])
    async with gateway_client(settings) as gateway:
        response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert "/api/v1/products/{product_id}" in document["paths"]
    assert not [path for path in document["paths"] if path.startswith("/api/v1/orders")]
    assert "Order" not in document["components"]["schemas"]
    description = document["info"]["description"]
    assert "Unavailable right now" in description
    assert "orders" in description
    assert "products" not in description.split("Unavailable right now")[1]


async def test_second_instance_serves_the_document_when_first_is_down(
    documented: dict[str, str],
) -> None:
    settings = gateway_settings(documented, auth_urls=[dead_url(), documented["auth"]])
    async with gateway_client(settings) as gateway:
        document = (await gateway.get("/openapi.json")).json()
    assert "/api/v1/auth/login" in document["paths"]
    assert "Unavailable" not in document["info"]["description"]


async def test_docs_is_swagger_ui_for_the_merged_document(
    documented: dict[str, str],
) -> None:
    async with gateway_client(gateway_settings(documented)) as gateway:
        response = await gateway.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text
    assert "'/openapi.json'" in response.text or '"/openapi.json"' in response.text


async def test_gateway_without_services_still_documents_itself(
    documented: dict[str, str],
) -> None:
    down = {name: [dead_url()] for name in ("auth_urls", "products_urls", "orders_urls")}
    async with gateway_client(gateway_settings(documented, **down)) as gateway:
        response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    assert set(document["paths"]) == {"/health/live", "/health/ready"}
    assert "auth, products, orders" in document["info"]["description"]


async def test_the_dashboards_pages_are_not_in_the_api_document(merged: dict[str, Any]) -> None:
    assert merged["paths"]
    assert not [path for path in merged["paths"] if path.startswith("/admin")]
