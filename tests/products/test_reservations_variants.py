"""The internal reservation API by variant: lines name variants (or a single-variant
product), keep each variant's SKU, price and title, and are refused whole when a
product with several variants is named alone or a variant is archived."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.products.reservation_support import (
    API,
    SERVICE,
    ReservationsEnv,
    problem,
    reservations_env,
)
from tests.support import Databases


@pytest.fixture
async def env(
    databases: Databases, redis_url: str, tmp_path: Path
) -> AsyncIterator[ReservationsEnv]:
    async with reservations_env(databases, redis_url, tmp_path) as running:
        yield running


async def put(env: ReservationsEnv, order_id: uuid.UUID, *lines: dict[str, Any]) -> httpx.Response:
    return await env.client.put(f"{API}/{order_id}", json={"lines": list(lines)}, headers=SERVICE)


async def test_lines_name_variants_and_keep_their_sku_price_and_title(
    env: ReservationsEnv,
) -> None:
    product, sizes = await env.books.product_with_variants({"S": 3, "M": 4}, price=2000)
    await env.books.execute(
        "UPDATE product_variants SET price = 2500 WHERE id = :id", id=sizes["M"]
    )
    order_id = uuid.uuid4()

    response = await put(
        env,
        order_id,
        {"variant_id": str(sizes["M"]), "quantity": 2},
        {"variant_id": str(sizes["S"]), "product_id": str(product), "quantity": 1},
    )

    assert response.status_code == 201, response.text
    entry = await env.books.catalog_entry(product)
    lines = {line["variant_id"]: line for line in response.json()["lines"]}
    assert {k: lines[str(sizes["M"])][k] for k in ("sku", "unit_price", "variant_title")} == {
        "sku": f"{entry.sku}-M",
        "unit_price": 2500,
        "variant_title": "M",
    }
    assert lines[str(sizes["S"])]["quantity"] == 1
    assert await env.books.variant_levels(sizes["M"]) == (4, 2)
    assert await env.books.variant_levels(sizes["S"]) == (3, 1)

    # A repeat replays the stored answer, however its lines name the variants.
    again = await put(
        env,
        order_id,
        {"variant_id": str(sizes["S"]), "quantity": 1},
        {"variant_id": str(sizes["M"]), "product_id": str(product), "quantity": 2},
    )
    assert (again.status_code, again.json()) == (200, response.json())
    other = await put(env, order_id, {"variant_id": str(sizes["M"]), "quantity": 2})
    problem(other, 409, "reservation-mismatch")

    assert (await env.release(order_id)).status_code == 200
    assert await env.books.variant_levels(sizes["M"]) == (4, 0)
    await env.books.assert_variant_balanced(*sizes.values())


async def test_a_product_with_several_variants_named_alone_is_refused_whole(
    env: ReservationsEnv,
) -> None:
    product, sizes = await env.books.product_with_variants({"S": 3, "M": 4})
    single = await env.books.product(5)

    response = await put(
        env,
        uuid.uuid4(),
        {"product_id": str(single), "quantity": 1},
        {"product_id": str(product), "quantity": 1},
    )

    body = problem(response, 422, "variant-required")
    assert [(e["field"], e["product_id"], e["reason"]) for e in body["errors"]] == [
        ("lines.1.variant_id", str(product), "variant-required")
    ]
    assert await env.books.levels(single) == (5, 0)
    assert await env.books.reservation_count() == 0

    # Archived, a variant is not sold; and the other size alone is the product's only one.
    await env.books.execute(
        "UPDATE product_variants SET status = 'archived' WHERE id = :id", id=sizes["S"]
    )
    archived = await put(env, uuid.uuid4(), {"variant_id": str(sizes["S"]), "quantity": 1})
    [error] = problem(archived, 422, "products-not-orderable")["errors"]
    assert (error["variant_id"], error["reason"]) == (str(sizes["S"]), "archived")
    shorthand = await put(env, uuid.uuid4(), {"product_id": str(product), "quantity": 1})
    assert shorthand.status_code == 201, shorthand.text
    assert shorthand.json()["lines"][0]["variant_id"] == str(sizes["M"])
    # A variant named twice, once by product: one line too many.
    twice = await put(
        env,
        uuid.uuid4(),
        {"product_id": str(product), "quantity": 1},
        {"variant_id": str(sizes["M"]), "quantity": 1},
    )
    assert problem(twice, 422, "products-not-orderable")["errors"][0]["reason"] == "duplicate"
    foreign = await put(
        env, uuid.uuid4(), {"variant_id": str(sizes["M"]), "product_id": str(single), "quantity": 1}
    )
    assert problem(foreign, 422, "products-not-orderable")["errors"][0]["reason"] == "unknown"
    await env.books.assert_variant_balanced(*sizes.values())


async def test_short_lines_name_their_variant(env: ReservationsEnv) -> None:
    product, sizes = await env.books.product_with_variants({"S": 1, "M": 10})

    response = await put(
        env,
        uuid.uuid4(),
        {"variant_id": str(sizes["S"]), "quantity": 2},
        {"variant_id": str(sizes["M"]), "quantity": 2},
    )

    assert problem(response, 409, "insufficient-stock")["errors"] == [
        {"product_id": str(product), "variant_id": str(sizes["S"]), "requested": 2, "available": 1}
    ]
    assert await env.books.variant_levels(sizes["M"]) == (10, 0)
