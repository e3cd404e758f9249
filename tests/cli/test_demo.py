"""The demo catalog of `shop seed-demo`, as data: deterministic, realistic, valid."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import pytest

from shop.cli.demo import DEPARTMENTS, DemoCatalog, demo_catalog, demo_image
from shop.products.images import ImageLimits, process_image
from shop.products.models import ProductStatus
from shop.products.schemas import CategoryIn, ProductIn

LIMITS = ImageLimits(max_bytes=10 * 1024 * 1024, max_pixels=40_000_000, thumbnail_size=320)


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return demo_catalog()


def test_the_same_seed_gives_the_same_catalog(catalog: DemoCatalog) -> None:
    assert demo_catalog() == catalog
    assert demo_catalog(seed=7) == demo_catalog(seed=7)
    assert demo_catalog(seed=7).products != catalog.products


def test_a_smaller_catalog_is_the_beginning_of_a_larger_one(catalog: DemoCatalog) -> None:
    small = demo_catalog(60)
    assert small.products == catalog.products[:60]
    assert small.categories == catalog.categories


def test_categories_form_a_tree_of_departments_with_subcategories(catalog: DemoCatalog) -> None:
    slugs = [category.slug for category in catalog.categories]
    assert len(slugs) == len(set(slugs))
    tops = [category for category in catalog.categories if category.parent_slug is None]
    assert len(tops) >= 8
    children = Counter(category.parent_slug for category in catalog.categories)
    assert all(2 <= children[top.slug] <= 5 for top in tops)
    seen: set[str] = set()
    for category in catalog.categories:  # parents first, so they can be created in order
        assert category.parent_slug is None or category.parent_slug in seen
        seen.add(category.slug)
        CategoryIn(name=category.name, slug=category.slug)  # valid as the API takes it
    names = {category.name for category in catalog.categories}
    assert {"Audio", "Headphones", "Computers", "Laptops", "Home & Kitchen", "Coffee"} <= names


def test_products_are_many_unique_and_valid(catalog: DemoCatalog) -> None:
    products = catalog.products
    assert len(products) >= 1000
    for attribute in ("sku", "slug", "name"):
        assert len({getattr(product, attribute) for product in products}) == len(products)
    leaves = {category.slug for category in catalog.categories if category.parent_slug}
    prices = {kind.slug: kind.price for department in DEPARTMENTS for kind in department.kinds}
    for product in products:
        assert re.fullmatch(r"[A-Z]{3}-[A-Z]{2,3}-\d{4}", product.sku), product.sku
        assert product.category_slug in leaves
        low, high = prices[product.category_slug]
        assert low <= product.price <= high
        assert 0 <= product.initial_stock <= 200
        ProductIn(
            sku=product.sku,
            slug=product.slug,
            name=product.name,
            description=product.description,
            price=product.price,
            attributes=product.attributes,
            status=product.status,
            initial_stock=product.initial_stock,
        )
    assert products[0].sku.endswith("-0001")


def test_products_are_realistic_enough_for_search_and_filters(catalog: DemoCatalog) -> None:
    products = catalog.products
    names = [product.name for product in products]
    out_of_stock = sum(1 for product in products if product.initial_stock == 0)
    assert len(products) * 0.03 <= out_of_stock <= len(products) * 0.15
    statuses = Counter(product.status for product in products)
    assert statuses[ProductStatus.ACTIVE] >= len(products) * 0.85
    assert statuses[ProductStatus.DRAFT] > 0
    assert statuses[ProductStatus.ARCHIVED] > 0
    # Accents for unaccent and trigram search; words a shopper would type.
    assert any(unicodedata.normalize("NFKD", name) != name for name in names)
    assert any("Café" in name for name in names)
    assert any("Wireless" in name and "Headphones" in name for name in names)
    assert any("Noise-Cancelling" in name for name in names)
    assert all(len(product.description) > 80 for product in products)
    assert all("brand" in p.attributes or "author" in p.attributes for p in products)
    assert sum(1 for p in products if "colour" in p.attributes) > len(products) / 2
    assert sum(1 for p in products if "size" in p.attributes) > 50
    # Every subcategory has products.
    assert {product.category_slug for product in products} == {
        category.slug for category in catalog.categories if category.parent_slug
    }


def test_pictures_are_small_deterministic_and_pass_the_upload_checks(
    catalog: DemoCatalog,
) -> None:
    for product in catalog.products[:3] + catalog.products[-3:]:
        data = demo_image(product)
        assert data == demo_image(product)
        assert len(data) < 20_000
        processed = process_image(data, LIMITS)
        assert processed.content_type == "image/png"
        assert (processed.width, processed.height) == (400, 400)
        assert processed.thumbnail
    first, second = catalog.products[:2]
    assert demo_image(first) != demo_image(second)
