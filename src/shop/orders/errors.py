"""The orders service's business errors; each carries its own status (see shop.kit.errors)."""

from __future__ import annotations

from typing import Any

from shop.kit.errors import ShopError, UpstreamUnavailableError


class OrderNotFoundError(ShopError):
    """No such order, or one the caller may not see (never 403: that would confirm it exists)."""

    status = 404
    title = "Order not found"
    type_slug = "order-not-found"


class IllegalTransitionError(ShopError):
    status = 409
    title = "Illegal status transition"
    type_slug = "illegal-transition"


class StockNotCommittedError(ShopError):
    """Shipping waits until the order's units have left the shelf at the products service."""

    status = 409
    title = "Stock not committed yet"
    type_slug = "stock-not-committed"


class StockHoldLapsedError(ShopError):
    """The units reserved for a placement were released (their hold expired) before they
    could be taken off the shelf: the order is cancelled, nothing is kept or sent."""

    status = 409
    title = "Stock hold lapsed"
    type_slug = "stock-hold-lapsed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail
            or "The stock held for this order lapsed before the order was complete;"
            " nothing was kept. Place the order again.",
            **extra,
        )


class InsufficientStockError(ShopError):
    status = 409
    title = "Insufficient stock"
    type_slug = "insufficient-stock"


class ProductsNotOrderableError(ShopError):
    status = 422
    title = "Products not orderable"
    type_slug = "products-not-orderable"


class VariantRequiredError(ShopError):
    """An item names by product_id alone a product with several variants."""

    status = 422
    title = "Variant required"
    type_slug = "variant-required"


class MixedCurrencyError(ShopError):
    status = 422
    title = "Mixed currencies"
    type_slug = "mixed-currencies"


class IdempotencyKeyReusedError(ShopError):
    """The key was first used with another request."""

    status = 422
    title = "Idempotency key reused"
    type_slug = "idempotency-key-reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used with a different request; use a new key.",
            errors=[{"field": "Idempotency-Key", "message": "used with a different request"}],
        )


class IdempotencyKeyInProgressError(ShopError):
    status = 409
    title = "Request in progress"
    type_slug = "idempotency-key-in-progress"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class OrderNotPlacedError(ShopError):
    """The answer to a repeat of a placement whose request died, once its order was
    cancelled without being placed (by the reconciler: the placement did not complete).
    Final and remembered: this key's order will never be placed."""

    status = 409
    title = "Order not placed"
    type_slug = "order-not-placed"


class UserFilterForbiddenError(ShopError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class CatalogUnavailableError(UpstreamUnavailableError):
    """The products service could not be reached in time; nothing was charged or kept."""

    title = "Catalog unavailable"
    type_slug = "catalog-unavailable"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail or "The catalog could not be reached; the order was not placed. Try again.",
            **extra,
        )
