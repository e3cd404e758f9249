"""The products service's business errors; each carries its own status (see shop.kit.errors)."""

from collections.abc import Sequence
from typing import Any

from shop.kit.contracts.reservations import ReservationRefusal
from shop.kit.errors import ConflictError, NotFoundError, ShopError


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


# --- Images -----------------------------------------------------------------------


class ImageNotFoundError(ShopError):
    status = 404
    title = "Image not found"
    type_slug = "image-not-found"


class UnsupportedImageError(ShopError):
    status = 415
    title = "Unsupported media type"
    type_slug = "unsupported-image"


class ImageDimensionsError(ShopError):
    status = 422
    title = "Image dimensions too large"
    type_slug = "image-dimensions-too-large"


class UnreadableImageError(ShopError):
    status = 422
    title = "Unreadable image"
    type_slug = "image-unreadable"


# --- Reservations (their problem types are the contract's, shop.kit.contracts) ------


class ProductsNotOrderableError(ShopError):
    """Some lines name products that do not exist or are not ``active``."""

    status = 422
    title = "Products not orderable"
    type_slug = ReservationRefusal.PRODUCTS_NOT_ORDERABLE


class InsufficientStockError(ConflictError):
    """Some lines ask for more than is available; ``errors`` lists every one of them."""

    title = "Insufficient stock"
    type_slug = ReservationRefusal.INSUFFICIENT_STOCK


class ReservationNotFoundError(NotFoundError):
    title = "Reservation not found"
    type_slug = ReservationRefusal.NOT_FOUND


class ReservationMismatchError(ConflictError):
    title = "Reservation mismatch"
    type_slug = ReservationRefusal.MISMATCH


class ReservationReleasedError(ConflictError):
    title = "Reservation released"
    type_slug = ReservationRefusal.RELEASED


class ReservationExpiredError(ConflictError):
    title = "Reservation expired"
    type_slug = ReservationRefusal.EXPIRED


class ReservationCommittedError(ConflictError):
    title = "Reservation committed"
    type_slug = ReservationRefusal.COMMITTED


# --- Variants -----------------------------------------------------------------------


class VariantNotFoundError(ShopError):
    status = 404
    title = "Variant not found"
    type_slug = "variant-not-found"


class LastActiveVariantError(ShopError):
    status = 409
    title = "Last active variant"
    type_slug = "last-active-variant"


class InvalidVariantError(ShopError):
    """A variant's options do not fit the product's (undeclared value, missing option,
    a combination another active variant has)."""

    status = 422
    title = "Invalid variant"
    type_slug = "invalid-variant"

    def __init__(self, field: str, message: str, others: Sequence[tuple[str, str]] = ()) -> None:
        errors: list[dict[str, Any]] = [
            {"field": name, "message": words} for name, words in [(field, message), *others]
        ]
        super().__init__(f"{field}: {message}", errors=errors)


class VariantRequiredError(ShopError):
    """The product has several active variants: the request must name one. ``errors``
    names the fields (the reservation API's lines: NotOrderableLine)."""

    status = 422
    title = "Variant required"
    type_slug = ReservationRefusal.VARIANT_REQUIRED

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors or [{"field": "variant_id", "message": detail}])


class PriceDerivedError(ShopError):
    status = 422
    title = "Price is derived"
    type_slug = "price-derived"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"field": "price", "message": detail}])


# --- Changing a product's options (each refusal names its fields in ``errors``) -----


class _OptionsRefusal(ShopError):
    status = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(error["message"]) for error in errors), errors=errors)


class InvalidOptionsError(_OptionsRefusal):
    """The change names an option or value the product does not have, or adds an option
    without the value its variants would take."""

    title = "Invalid options"
    type_slug = "invalid-options"


class OptionValueInUseError(_OptionsRefusal):
    title = "Option value in use"
    type_slug = "option-value-in-use"


class VariantsWouldCollideError(_OptionsRefusal):
    """Without the removed option, two active variants would have one combination."""

    title = "Variants would collide"
    type_slug = "variants-would-collide"
