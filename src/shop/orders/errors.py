"""The orders service's business errors; each carries its own status (see shop.kit.errors)."""

from __future__ import annotations

from typing import Any, ClassVar

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


# --- Shipping methods, tax rates, promotions -------------------------------------------


class InvalidFieldError(ShopError):
    """A field that is valid alone but not with the others (a window, a range, a kind
    and its value), checked once the stored and the new values are merged."""

    status = 422
    title = "Validation failed"
    type_slug = "validation"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])


class ShippingMethodNotFoundError(ShopError):
    status = 404
    title = "Shipping method not found"
    type_slug = "shipping-method-not-found"


class TaxRateNotFoundError(ShopError):
    status = 404
    title = "Tax rate not found"
    type_slug = "tax-rate-not-found"


class DuplicateTaxRateError(ShopError):
    status = 409
    title = "Tax rate exists"
    type_slug = "duplicate-tax-rate"

    def __init__(self) -> None:
        super().__init__("This country (and region) already has a tax rate; change that one.")


class PromotionNotFoundError(ShopError):
    status = 404
    title = "Promotion not found"
    type_slug = "promotion-not-found"


class DuplicatePromotionCodeError(ShopError):
    status = 409
    title = "Promotion code exists"
    type_slug = "duplicate-promotion-code"

    def __init__(self) -> None:
        super().__init__(
            "A promotion with this code (in any letter case) exists, active or not.",
            errors=[{"field": "code", "message": "already used by another promotion"}],
        )


class PromotionRefusedError(ShopError):
    """A code that can't be applied to this cart: a 422 whose ``reason`` says why (the
    subclasses), the cart unchanged."""

    status = 422
    reason: ClassVar[str] = "not-applicable"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail or self.title,
            reason=self.reason,
            errors=[{"field": "code", "message": detail or self.title}],
            **extra,
        )

    def name_field(self, name: str) -> None:
        """The code's field in the request: ``code`` (a cart's), or ``promotion_code``."""
        self.extra["errors"] = [{**error, "field": name} for error in self.extra["errors"]]


class PromotionUnknownError(PromotionRefusedError):
    title = "Unknown promotion code"
    type_slug = "promotion-unknown"
    reason = "unknown"


class PromotionInactiveError(PromotionRefusedError):
    title = "Promotion inactive"
    type_slug = "promotion-inactive"
    reason = "inactive"


class PromotionNotStartedError(PromotionRefusedError):
    title = "Promotion not started"
    type_slug = "promotion-not-started"
    reason = "not-started"


class PromotionExpiredError(PromotionRefusedError):
    title = "Promotion expired"
    type_slug = "promotion-expired"
    reason = "expired"


class PromotionUsedUpError(PromotionRefusedError):
    title = "Promotion used up"
    type_slug = "promotion-used-up"
    reason = "used-up"


class PromotionMinSubtotalError(PromotionRefusedError):
    title = "Subtotal below the promotion's minimum"
    type_slug = "promotion-min-subtotal"
    reason = "min-subtotal"


class PromotionCustomerLimitError(PromotionRefusedError):
    title = "Promotion already used by this customer"
    type_slug = "promotion-per-customer-limit"
    reason = "per-customer-limit"


class PromotionExhaustedError(ShopError):
    """At checkout: the last use went to another order meanwhile. The order is not
    placed and the cart keeps its lines (and the code, to remove)."""

    status = 409
    title = "Promotion exhausted"
    type_slug = "promotion-exhausted"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail or "This promotion code has no uses left.", reason="used-up", **extra
        )


class PromotionCustomerExhaustedError(ShopError):
    """At checkout: this customer's last use of the code went to another of their orders
    meanwhile."""

    status = 409
    title = "Promotion exhausted for this customer"
    type_slug = "promotion-customer-exhausted"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail or "This customer has used this promotion code as often as it allows.",
            reason="per-customer-limit",
            **extra,
        )


class OrderHasPromotionError(ShopError):
    """An order uses one promotion code at most."""

    status = 409
    title = "Order has a promotion"
    type_slug = "order-has-promotion"


class ShippingMethodNotOfferedError(ShopError):
    """The shipping method is unknown, inactive or does not ship to the address."""

    status = 422
    title = "Shipping method not offered"
    type_slug = "shipping-method-not-offered"

    def __init__(self, field: str = "shipping_method_id") -> None:
        message = "not offered for the shipping address's country"
        super().__init__(
            f"{field}: this shipping method is not offered for the shipping address.",
            errors=[{"field": field, "message": message}],
        )


# --- Carts and checkout -----------------------------------------------------------------


class CartNotFoundError(ShopError):
    """No such cart, or another user's (never 403: cart ids cannot be probed)."""

    status = 404
    title = "Cart not found"
    type_slug = "cart-not-found"


class CartItemNotFoundError(ShopError):
    status = 404
    title = "Cart item not found"
    type_slug = "cart-item-not-found"


class CartCompletedError(ShopError):
    """The cart was checked out: it changes no more (its order is ``order_id``)."""

    status = 409
    title = "Cart already checked out"
    type_slug = "cart-completed"


class CheckoutInProgressError(ShopError):
    """Another checkout of this cart is being placed: one cart is one order."""

    status = 409
    title = "Checkout in progress"
    type_slug = "checkout-in-progress"

    def __init__(self) -> None:
        super().__init__("This cart is being checked out by another request; try again shortly.")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class CartNotReadyError(ShopError):
    """A checkout of a cart without what an order needs: each missing field named."""

    status = 422
    title = "Validation failed"
    type_slug = "validation"

    def __init__(self, missing: list[tuple[str, str]]) -> None:
        super().__init__(
            "The cart is missing " + ", ".join(field for field, _ in missing) + ".",
            errors=[{"field": field, "message": message} for field, message in missing],
        )


class PaymentProviderNotAllowedError(ShopError):
    status = 422
    title = "Payment provider not allowed"
    type_slug = "payment-provider-not-allowed"

    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[{"field": "payment_provider", "message": message}])


class TooManyUnpaidOrdersError(ShopError):
    """A user holds MAX_UNPAID_ORDERS manual orders not paid yet."""

    status = 409
    title = "Too many unpaid orders"
    type_slug = "too-many-unpaid-orders"


class CartChangedError(ShopError):
    """The cart changed while its checkout began: nothing was placed; check out again."""

    status = 409
    title = "Cart changed"
    type_slug = "cart-changed"
