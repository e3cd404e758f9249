"""The books of both services, checked against each other and against what clients saw.

After any fault, once the reconciler, the sweeper and the outbox workers have
had time, for the products a test created:

- stock: initial on hand = available + reserved + sold, where sold is what
  committed reservations took; the ledger's deltas add up to the levels;
  nothing is merely held any more (``reserved`` = 0, no held reservation);
- orders: none left ``pending``; every order that stands (confirmed, shipped,
  delivered) is placed, its stock committed, and its reservation committed with
  exactly its lines; every cancelled order has its stock given back (released,
  or never reserved); sold per product = the units of the orders that stand;
- clients: every acknowledged (201) order id is in the orders table, placed;
- emails: no outbox backlog (nothing unsent, nothing given up), and exactly one
  confirmation email per placed order, none for an order never placed;
- money: for every order with a payment, paid - refunded is what its
  ``payment_status`` says (awaiting: nothing paid; paid: the total, nothing
  refunded; partially refunded: some of it back; refunded and not required:
  nothing kept), never more refunded than paid, no refund still pending, a
  cancelled order keeps nothing, and no order paid online (stripe) stands
  (confirmed, shipped, delivered) unpaid.

:func:`settle` polls until all of it holds, and fails with what still does not.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import asyncpg

STANDING = ("confirmed", "shipped", "delivered")


@dataclass
class Books:
    """What the check found; ``problems`` is empty when the books balance."""

    problems: list[str] = field(default_factory=list)
    sold: dict[str, int] = field(default_factory=dict)  # product id -> units
    orders: dict[str, str] = field(default_factory=dict)  # order id -> status
    placed: set[str] = field(default_factory=set)
    refunded: dict[str, int] = field(default_factory=dict)  # order id -> minor units

    def fail(self, message: str) -> None:
        self.problems.append(message)


async def check(
    products_url: str,
    orders_url: str,
    initial: Mapping[str, int],
    acknowledged: Collection[str] = (),
) -> Books:
    """One look at both databases (plain ``postgresql://`` URLs)."""
    books = Books()
    product_ids = [uuid.UUID(p) for p in initial]
    orders_db = await asyncpg.connect(orders_url)
    products_db = await asyncpg.connect(products_url)
    try:
        await _check_orders(books, orders_db, product_ids, acknowledged)
        await _check_money(books, orders_db)
        await _check_stock(books, products_db, initial)
        await _check_agreement(books, orders_db, products_db, product_ids)
    finally:
        await orders_db.close()
        await products_db.close()
    return books


async def _check_orders(
    books: Books,
    db: asyncpg.Connection,
    product_ids: list[uuid.UUID],
    acknowledged: Collection[str],
) -> None:
    pending = await db.fetchval("SELECT count(*) FROM orders WHERE status = 'pending'")
    if pending:
        books.fail(f"{pending} orders still pending")
    backlog = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
    )
    if backlog:
        books.fail(f"{backlog} outbox messages not sent yet")
    failed = await db.fetchval("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL")
    if failed:
        books.fail(f"{failed} outbox messages given up")
    rows = await db.fetch(
        "SELECT id, number, status, placed, stock_state FROM orders o WHERE EXISTS ("
        " SELECT 1 FROM jsonb_array_elements(o.requested_items) item"
        " WHERE (item->>'product_id')::uuid = ANY($1))",
        product_ids,
    )
    subjects = Counter(
        row["subject"]
        for row in await db.fetch("SELECT payload->>'subject' AS subject FROM outbox")
    )
    for row in rows:
        order_id, status = str(row["id"]), str(row["status"])
        books.orders[order_id] = status
        if row["placed"]:
            books.placed.add(order_id)
        if status in STANDING and not row["placed"]:
            books.fail(f"order {order_id} is {status} but was never placed")
        expected = "committed" if status in STANDING else "released"
        if status != "pending" and row["stock_state"] != expected:
            books.fail(f"order {order_id} is {status} with stock {row['stock_state']}")
        emails = subjects[f"Your order {row['number']} is confirmed"]
        if emails != (1 if row["placed"] else 0):
            books.fail(f"order {order_id} (placed: {row['placed']}) has {emails} confirmations")
    for order_id in set(acknowledged):
        if order_id not in books.placed:
            books.fail(f"acknowledged order {order_id} is not a placed order")


async def _check_money(books: Books, db: asyncpg.Connection) -> None:
    """Payments and refunds of the orders found (``books.orders``) against what each
    order says."""
    rows = await db.fetch(
        "SELECT o.id, o.status::text AS status, o.total, o.payment_status::text AS says,"
        " p.provider, p.amount, p.status::text AS payment,"
        " coalesce(sum(r.amount) FILTER (WHERE r.status = 'succeeded'), 0) AS refunded,"
        " count(r.id) FILTER (WHERE r.status = 'pending') AS pending"
        " FROM orders o JOIN payments p ON p.order_id = o.id"
        " LEFT JOIN refunds r ON r.payment_id = p.id"
        " WHERE o.id = ANY($1) GROUP BY o.id, p.id",
        [uuid.UUID(o) for o in books.orders],
    )
    for row in rows:
        order_id, says = str(row["id"]), row["says"]
        paid = row["amount"] if row["payment"] == "succeeded" else 0
        kept = paid - row["refunded"]
        if row["refunded"]:
            books.refunded[order_id] = row["refunded"]
        if row["amount"] != row["total"]:
            books.fail(f"order {order_id}: a payment of {row['amount']}, a total of {row['total']}")
        if row["pending"]:
            books.fail(f"order {order_id}: {row['pending']} refunds still pending")
        if kept < 0:
            books.fail(f"order {order_id}: refunded {row['refunded']} of {paid} paid")
        expected = {
            "awaiting": paid == 0,
            "paid": kept == row["total"] and row["refunded"] == 0,
            "partially_refunded": 0 < row["refunded"] < paid,
            "refunded": paid > 0 and kept == 0,
            "not_required": kept == 0,
        }
        if not expected.get(says, False):
            books.fail(f"order {order_id} says {says}: paid {paid}, refunded {row['refunded']}")
        if row["status"] == "cancelled" and kept:
            books.fail(f"order {order_id} is cancelled and keeps {kept}")
        if row["provider"] == "stripe" and row["status"] in STANDING and not paid:
            books.fail(f"order {order_id} is {row['status']} but its stripe payment is unpaid")


async def _check_stock(books: Books, db: asyncpg.Connection, initial: Mapping[str, int]) -> None:
    for product, first in initial.items():
        product_id = uuid.UUID(product)
        level = await db.fetchrow(
            "SELECT on_hand, reserved FROM inventory WHERE product_id = $1", product_id
        )
        if level is None:
            books.fail(f"product {product} has no inventory")
            continue
        on_hand, reserved = level["on_hand"], level["reserved"]
        ledger = await db.fetchrow(
            "SELECT coalesce(sum(on_hand_delta), 0) AS on_hand,"
            " coalesce(sum(reserved_delta), 0) AS reserved"
            " FROM stock_movements WHERE product_id = $1",
            product_id,
        )
        assert ledger is not None
        totals = {
            row["status"]: int(row["units"])
            for row in await db.fetch(
                "SELECT r.status::text AS status, sum(l.quantity) AS units"
                " FROM reservation_lines l JOIN reservations r USING (order_id)"
                " WHERE l.product_id = $1 GROUP BY r.status",
                product_id,
            )
        }
        held, sold = totals.get("held", 0), totals.get("committed", 0)
        books.sold[product] = sold
        available = on_hand - reserved
        if first != available + reserved + sold:
            books.fail(
                f"product {product}: initial {first} != available {available}"
                f" + reserved {reserved} + sold {sold}"
            )
        if (ledger["on_hand"], ledger["reserved"]) != (on_hand, reserved):
            books.fail(f"product {product}: the ledger says {tuple(ledger)}")
        if reserved != held:
            books.fail(f"product {product}: reserved {reserved} but holds {held}")
        if held:
            books.fail(f"product {product}: {held} units still merely held")
        if not 0 <= reserved <= on_hand:
            books.fail(f"product {product}: oversold ({on_hand} on hand, {reserved} reserved)")


async def _check_agreement(
    books: Books,
    orders_db: asyncpg.Connection,
    products_db: asyncpg.Connection,
    product_ids: list[uuid.UUID],
) -> None:
    ids = [uuid.UUID(o) for o in books.orders]
    reservations = {
        str(row["order_id"]): str(row["status"])
        for row in await products_db.fetch(
            "SELECT order_id, status::text AS status FROM reservations WHERE order_id = ANY($1)",
            ids,
        )
    }
    reserved_lines = Counter(
        {
            (str(row["order_id"]), str(row["product_id"])): row["quantity"]
            for row in await products_db.fetch(
                "SELECT order_id, product_id, quantity FROM reservation_lines"
                " WHERE order_id = ANY($1)",
                ids,
            )
        }
    )
    ordered_lines = Counter(
        {
            (str(row["order_id"]), str(row["product_id"])): row["quantity"]
            for row in await orders_db.fetch(
                "SELECT order_id, product_id, quantity FROM order_lines WHERE order_id = ANY($1)",
                ids,
            )
        }
    )
    standing_units: Counter[str] = Counter()
    for order_id, status in books.orders.items():
        reservation = reservations.get(order_id)
        lines = {k: v for k, v in ordered_lines.items() if k[0] == order_id}
        if status in STANDING:
            if reservation != "committed":
                books.fail(f"order {order_id} is {status}, its reservation {reservation}")
            if lines != {k: v for k, v in reserved_lines.items() if k[0] == order_id}:
                books.fail(f"order {order_id}: its lines are not what products reserved")
            for (_, product), quantity in lines.items():
                standing_units[product] += quantity
        elif reservation not in (None, "released"):
            books.fail(f"order {order_id} is {status}, its reservation {reservation}")
    for product_id in product_ids:
        product = str(product_id)
        if standing_units[product] != books.sold.get(product, 0):
            books.fail(
                f"product {product}: orders that stand hold {standing_units[product]} units,"
                f" products sold {books.sold.get(product, 0)}"
            )


async def settle(
    products_url: str,
    orders_url: str,
    initial: Mapping[str, int],
    acknowledged: Collection[str] = (),
    within: float = 45.0,
) -> Books:
    """Polls until the books balance (the background loops catch up), or fails."""
    deadline = time.monotonic() + within
    while True:
        books = await check(products_url, orders_url, initial, acknowledged)
        if not books.problems:
            return books
        if time.monotonic() > deadline:
            raise AssertionError("the books do not balance:\n" + "\n".join(books.problems))
        await asyncio.sleep(0.5)
