"""The products service's business errors; each carries its own status (see shop.kit.errors)."""

from typing import Any

from shop.kit.errors import ShopError


class ProductNotFoundError(ShopError):
    status = 404
    title = "Product not found"
    type_slug = "product-not-found"


class CategoryNotFoundError(ShopError):
    status = 404
    title = "Category not found"
    type_slug = "category-not-found"


class DuplicateError(ShopError):
    status = 409
    title = "Already exists"
    type_slug = "duplicate"


class CategoryInUseError(ShopError):
    status = 409
    title = "Category in use"
    type_slug = "category-in-use"


class CategoryCycleError(ShopError):
    status = 409
    title = "Category cycle"
    type_slug = "category-cycle"


class StockBelowReservedError(ShopError):
    status = 409
    title = "Stock below reserved"
    type_slug = "stock-below-reserved"


class VersionMismatchError(ShopError):
    status = 412
    title = "Precondition failed"
    type_slug = "version-mismatch"


class UnknownReferenceError(ShopError):
    status = 422
    title = "Unknown reference"
    type_slug = "unknown-reference"

    def __init__(self, field: str, message: str) -> None:
        errors: list[dict[str, Any]] = [{"field": field, "message": message}]
        super().__init__(f"{field}: {message}", errors=errors)
