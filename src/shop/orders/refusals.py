"""Why a placement was refused: the notes its order's cancellation records, and the
errors they answer (at once, and again to a repeat of the request whose key names the
cancelled order)."""

from __future__ import annotations

from typing import Any

from shop.kit.contracts.reservations import ReservationRefusal
from shop.kit.errors import ShopError
from shop.orders import errors
from shop.orders.models import Order, OrderStatus
from shop.orders.products_client import ProductsRefusedError

# The history's notes of the cancellations that refuse a placement.
NOT_ENOUGH_STOCK = "not enough stock"
NOT_ORDERABLE = "some products cannot be ordered"
VARIANT_REQUIRED = "some items need a variant"
HOLD_LAPSED = "the stock hold lapsed before it was committed"
MIXED_CURRENCIES = "mixed currencies"
NOT_COMPLETED = "placement did not complete"  # the reconciler's
# Followed by the refusal's problem type, e.g. "pricing refused: promotion-exhausted".
PRICING_REFUSED = "pricing refused: "
# The refusals of pricing at confirmation, by problem type.
PRICING_REFUSALS: dict[str, type[ShopError]] = {
    cls.type_slug: cls
    for cls in (
        errors.ShippingMethodNotOfferedError,
        errors.PromotionExhaustedError,
        errors.PromotionCustomerExhaustedError,
        errors.PromotionUnknownError,
        errors.PromotionInactiveError,
        errors.PromotionNotStartedError,
        errors.PromotionExpiredError,
        errors.PromotionUsedUpError,
        errors.PromotionMinSubtotalError,
        errors.PromotionCustomerLimitError,
        errors.OrderHasPromotionError,
    )
}


def of_order(order: Order) -> ShopError:
    """What a placement refused with, from the note of its order's cancellation (the
    short lines themselves are not kept)."""
    notes = [event.note for event in order.events if event.status == OrderStatus.CANCELLED]
    note = notes[-1] if notes else ""
    if note == NOT_ENOUGH_STOCK:
        return errors.InsufficientStockError(
            "Not enough stock for some items; nothing was reserved."
        )
    if note == NOT_ORDERABLE:
        return errors.ProductsNotOrderableError("Some products do not exist or cannot be ordered.")
    if note == VARIANT_REQUIRED:
        return errors.VariantRequiredError("Some items name a product with several variants.")
    if note == HOLD_LAPSED:
        return errors.StockHoldLapsedError()
    if note == MIXED_CURRENCIES:
        return errors.MixedCurrencyError("The products are priced in different currencies.")
    refusal = PRICING_REFUSALS.get(note.removeprefix(PRICING_REFUSED))
    if note.startswith(PRICING_REFUSED) and refusal is not None:
        return refusal()
    return errors.OrderNotPlacedError(
        "The request with this Idempotency-Key was interrupted and its order was not"
        " placed; nothing was kept. Place the order again with a new Idempotency-Key."
    )


def of_reservation(refusal: ProductsRefusedError) -> tuple[str | None, ShopError]:
    """The note of the cancellation and the error a refused reservation answers; no note
    when the refusal is not final (released meanwhile, or not one we expect): the order
    is then left to the reconciler and the client may try again."""
    found: list[dict[str, Any]] = refusal.errors
    if refusal.refusal is ReservationRefusal.EXPIRED:  # a hold of an earlier attempt lapsed
        return HOLD_LAPSED, errors.StockHoldLapsedError()
    if refusal.refusal is ReservationRefusal.INSUFFICIENT_STOCK:
        return NOT_ENOUGH_STOCK, errors.InsufficientStockError(
            "Not enough stock for some items; nothing was reserved.", errors=found
        )
    if refusal.refusal in {
        ReservationRefusal.PRODUCTS_NOT_ORDERABLE,
        ReservationRefusal.VARIANT_REQUIRED,
    }:
        for entry in found:  # products numbers our items as its reservation's lines
            field = entry.get("field")
            if isinstance(field, str):
                entry["field"] = field.replace("lines.", "items.", 1)
        if refusal.refusal is ReservationRefusal.VARIANT_REQUIRED:
            return VARIANT_REQUIRED, errors.VariantRequiredError(
                "Some items name a product with several variants; name the variant_id.",
                errors=found,
            )
        return NOT_ORDERABLE, errors.ProductsNotOrderableError(
            "Some products do not exist or cannot be ordered; see errors.", errors=found
        )
    return None, errors.CatalogUnavailableError("The order could not be placed in time. Try again.")
