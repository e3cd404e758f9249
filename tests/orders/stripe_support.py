"""A Stripe stand-in for the tests: localstripe on a loopback port (see
localstripe_server), the settings that point the orders service at it, and what a
buyer's browser (Stripe.js) and Stripe itself do."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import stripe

from shop.cli.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk_test_localstripe_for_the_tests"
WEBHOOK_SECRET = "whsec_localstripe_for_the_tests"
WEBHOOK_PATH = "/payments/stripe/webhook"  # under the gateway's /api/v1
# An event type no one sends: registered with it, a webhook receives nothing (dropped).
NOTHING = "nothing.ever"


@dataclass(frozen=True)
class LocalStripe:
    url: str

    def _client(self) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {SECRET_KEY}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    def settings(self) -> dict[str, Any]:
        """The orders service's settings for stripe (beside manual) on this stand-in."""
        return {
            "payment_providers": ["stripe", "manual"],
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": self.url,
        }

    async def send_webhooks_to(self, api_url: str, *, dropped: bool = False) -> None:
        """Stripe's webhooks go to the system's webhook URL (``api_url``: the gateway's
        /api/v1), or nowhere when ``dropped``."""
        body: dict[str, Any] = {"url": api_url + WEBHOOK_PATH, "secret": WEBHOOK_SECRET}
        if dropped:
            body["events"] = [NOTHING]
        async with self._client() as client:
            answer = await client.post("/_config/webhooks/shop", json=body)
            assert answer.status_code == 200, answer.text

    async def pay(self, intent_id: str, method: str = "pm_card_visa") -> httpx.Response:
        """What Stripe.js does: the payment method is set on the intent, which is then
        confirmed (localstripe confirms only an intent that has one)."""
        async with self._client() as client:
            path = f"/v1/payment_intents/{intent_id}"
            updated = await client.post(path, data={"payment_method": method})
            assert updated.status_code == 200, updated.text
            return await client.post(f"{path}/confirm")

    async def intent(self, intent_id: str) -> dict[str, Any]:
        async with self._client() as client:
            answer = await client.get(f"/v1/payment_intents/{intent_id}")
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

    async def refunds(self, intent_id: str) -> list[dict[str, Any]]:
        async with self._client() as client:
            answer = await client.get("/v1/refunds", params={"payment_intent": intent_id})
            assert answer.status_code == 200, answer.text
            items: list[dict[str, Any]] = answer.json()["data"]
            return items


def signed_event(
    event_id: str, event_type: str, intent_id: str, *, at: int | None = None
) -> tuple[bytes, str]:
    """A webhook body as Stripe signs it, and its Stripe-Signature header."""
    body = orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "data": {"object": {"id": intent_id, "object": "payment_intent"}},
        }
    )
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), WEBHOOK_SECRET, timestamp=at
    )
    return body, header


def intent_id(order: dict[str, Any]) -> str:
    """The PaymentIntent of an order's answer (the client secret starts with its id)."""
    secret: str = order["payment"]["client_secret"]
    return secret.split("_secret_")[0]


def run_localstripe() -> Iterator[LocalStripe]:
    """localstripe on a free loopback port, until the generator is closed."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.orders.localstripe_server", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stand_in = LocalStripe(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60  # generous: a loaded machine
        while True:
            try:
                headers = {"authorization": f"Bearer {SECRET_KEY}"}
                answer = httpx.get(f"{stand_in.url}/v1/payment_intents", headers=headers)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "localstripe did not start"
            assert time.monotonic() < deadline, "localstripe did not answer in time"
            time.sleep(0.1)
        yield stand_in
    finally:
        process.terminate()
        process.wait(10)
