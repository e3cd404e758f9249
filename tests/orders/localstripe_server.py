"""localstripe (a stateful Stripe stand-in), as the tests run it: on loopback only, its
state in memory only, and speaking the one parameter of ours it does not know.

``python -m tests.orders.localstripe_server <port>``. Extensions, each the least that
makes localstripe answer as Stripe does:

- ``automatic_payment_methods`` on a PaymentIntent's creation is accepted (localstripe
  1.15 refuses any parameter it does not model; Stripe's answer does not depend on it
  for the card payments the tests make);
- ``pm_card_visa_chargeDeclined`` (card 4000000000000002) is declined when charged,
  as at Stripe (localstripe declines it only when attached to a customer);
- a payment method set on an intent whose last charge was declined makes it
  confirmable again, as Stripe does (localstripe keeps the failed charge as the
  latest, so the intent stays ``requires_payment_method`` for good);
- the store is never written to ``/tmp/localstripe.pickle`` (two test workers would
  share it, and pickling it at every write costs CPU).
"""

from __future__ import annotations

import sys
from typing import Any

from aiohttp import web
from localstripe import resources, server


def _accepting_automatic_payment_methods() -> None:
    create = resources.PaymentIntent.__init__

    def __init__(self: Any, *args: Any, automatic_payment_methods: Any = None, **kw: Any) -> None:
        if automatic_payment_methods is not None and not isinstance(
            automatic_payment_methods, dict
        ):
            raise resources.UserError(400, "Bad request")
        create(self, *args, **kw)

    resources.PaymentIntent.__init__ = __init__  # type: ignore[method-assign]


DECLINED_WHEN_CHARGED = "4000000000000002"  # Stripe's pm_card_visa_chargeDeclined


def _declining_charges_as_stripe_does() -> None:
    declined = resources.PaymentMethod._charging_is_declined

    def _charging_is_declined(self: Any) -> bool:
        card = getattr(self, "_card_number", None)
        return bool(card == DECLINED_WHEN_CHARGED or declined(self))

    resources.PaymentMethod._charging_is_declined = _charging_is_declined  # type: ignore[method-assign]


def _retrying_after_a_decline() -> None:
    update = resources.PaymentIntent._update

    def _update(self: Any, **data: Any) -> None:
        update(self, **data)
        charge = self.latest_charge
        if "payment_method" in data and charge is not None and charge.status == "failed":
            self.latest_charge = None  # a new attempt, with the new method

    resources.PaymentIntent._update = _update  # type: ignore[method-assign]


def main() -> None:
    port = int(sys.argv[1])
    _accepting_automatic_payment_methods()
    _declining_charges_as_stripe_does()
    _retrying_after_a_decline()
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    web.run_app(server.app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
