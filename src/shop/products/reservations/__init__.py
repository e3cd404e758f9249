"""Stock reservations for orders: reserve, commit, release, restock, and the expiry sweep.

The use cases take the caller's session and only ``flush``: the request's
session dependency (or the sweeper's unit of work) commits, or rolls back when
one of them raises, so a refused reservation leaves nothing behind. Each one
that changes stock announces it (:func:`shop.products.changes.announce`): the
cached reads of the products it touched are invalidated after the commit
(available stock is part of every product read), and one ``product.changed``
per product goes in the outbox, for the search index's ``available`` (unless
``notify_search`` is false: the PostgreSQL backend, whose handler does nothing).
Their queries are :class:`shop.products.repositories.ReservationRepository`'s.

Concurrency. Rows are always locked in one order, so two transactions never
wait for each other in a cycle: first the reservation's row (a new key for a
reserve, ``FOR UPDATE`` otherwise, ``SKIP LOCKED`` for the sweeper), then the
inventory rows of its variants ``ORDER BY variant_id FOR UPDATE``. Stock is
checked and changed under those locks, and the database's CHECK constraints
(``0 <= reserved <= on_hand``) refuse an oversell even if the code were wrong.

Idempotency. A reservation is keyed by the order's id. ``reserve`` first
inserts that key with ``ON CONFLICT DO NOTHING``: a concurrent reserve for the
same order waits on the key until the first commits (and then replays its
result) or rolls back (and then tries itself), so exactly one reservation is
ever made. A replay returns the stored reservation (lines, prices and expiry
as first answered, whatever changed in the catalog since) if it asks for the
same lines; different lines are a 409 (``reservation-mismatch``): an order's
lines are fixed, so they can only mean a caller's bug.

At once. ``reserve(..., commit_now=True)`` (``commit: true`` in the API) takes
the units off the shelf in the reserve's own transaction: the reservation is
written ``committed`` and ``on_hand`` drops, as a reserve and a commit would
leave them, with one ``commit`` ledger row per line. The orders service places
orders so: one call, and no hold that could lapse before its commit.

Release before reserve. Releasing an order id that has no reservation records
a *tombstone*: a released reservation without lines. The orders service's
reconciler may cancel an order whose reserve call is still on its way; when
that call arrives, it finds the order released and is refused (409
``reservation-released``) instead of holding stock nobody will ever release.

Expiry. A held reservation is good until ``expires_at``. After that it can no
longer be committed (409 ``reservation-expired``), whether or not the sweeper
has released it yet; it can still be released.
"""

from shop.products.reservations.holding import (
    ReserveOutcome,
    WantedLine,
    commit,
    get_reservation,
    reserve,
)
from shop.products.reservations.returning import (
    SWEEPER_ACTOR,
    release,
    restock,
    sweep_expired,
)
from shop.products.reservations.rows import ReservationView

__all__ = [
    "SWEEPER_ACTOR",
    "ReservationView",
    "ReserveOutcome",
    "WantedLine",
    "commit",
    "get_reservation",
    "release",
    "reserve",
    "restock",
    "sweep_expired",
]
