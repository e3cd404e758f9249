"""An order's lines and its reservation's: the limit on quantities, which reserved line
answers which item, and the order lines a reservation makes (shop.orders.placement)."""

from __future__ import annotations

import uuid

from shop.kit.contracts.reservations import ReservationLineOut, ReservationOut
from shop.orders.errors import InvalidFieldError
from shop.orders.models import OrderLine
from shop.orders.schemas import ItemIn


def check_quantities(items: list[ItemIn], most: int, prefix: str = "items") -> None:
    """A 422 naming the first line asking for more than ``MAX_LINE_QUANTITY`` units."""
    for index, item in enumerate(items):
        if item.quantity > most:
            raise InvalidFieldError(f"{prefix}.{index}.quantity", f"must be at most {most}")


def positions(items: list[ItemIn], lines: list[ReservationLineOut]) -> dict[uuid.UUID, int] | None:
    """The position of the item each reserved line answers, by the line's variant; None
    unless the lines answer the items one for one (a line named by product answers the
    reserved line of that product's variant)."""
    found: dict[uuid.UUID, int] = {}
    for index, item in enumerate(items):
        matches = [
            line
            for line in lines
            if line.variant_id not in found
            and (item.variant_id is None or line.variant_id == item.variant_id)
            and (item.product_id is None or line.product_id == item.product_id)
        ]
        if len(matches) != 1 or matches[0].quantity != item.quantity:
            return None
        found[matches[0].variant_id] = index
    return found if len(found) == len(lines) else None


def order_lines(
    order_id: uuid.UUID, reservation: ReservationOut, position: dict[uuid.UUID, int]
) -> list[OrderLine]:
    """The order's lines from its reservation, in the order of its items (not priced)."""
    return sorted(
        (
            OrderLine(
                order_id=order_id,
                product_id=line.product_id,
                variant_id=line.variant_id,
                position=position[line.variant_id],
                sku=line.sku,
                name=line.name,
                variant_title=line.variant_title,
                unit_price=line.unit_price,
                quantity=line.quantity,
                line_total=line.unit_price * line.quantity,
            )
            for line in reservation.lines
        ),
        key=lambda line: line.position,
    )
