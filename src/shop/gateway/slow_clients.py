"""Slow clients cannot pin the gateway: a deadline to receive each request, and a cap
on the requests in progress per client address.

A client that trickles its body (or never finishes it) would otherwise hold a
connection to a service from the gateway's pool for as long as it likes: a few
hundred of them and every other client waits for a pooled connection, then gets
503. Two controls close that:

- :class:`RequestDeadlineMiddleware`: the whole body must have arrived within
  ``REQUEST_RECEIVE_TIMEOUT`` seconds of the request's start
  (``UPLOAD_RECEIVE_TIMEOUT`` for image uploads), else 408 (problem) and the
  connection is closed. Waiting for a disconnect once the body is in is not
  bounded (a streamed answer listens for one).
- :class:`ClientConcurrencyMiddleware`: at most ``MAX_REQUESTS_PER_CLIENT``
  requests in progress (from their start to the end of their answer) per client
  address, as :func:`shop.kit.clients.client_ip` finds it (``TRUSTED_PROXIES``; an
  IPv6 client counted per /64);
  the next is answered 429 (problem) at once. Counted per gateway process
  (:class:`ClientSlots`).

The request head (line and headers) is bounded by the server: see
:mod:`shop.gateway.server`.
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.gateway.bodylimits import is_upload
from shop.kit.clients import Proxies, client_key, scope_client_ip
from shop.kit.errors import ShopError, problem_response


class RequestTimeoutError(ShopError):
    """The client did not send its whole request in time."""

    status = 408
    title = "Request timeout"
    type_slug = "request-timeout"

    def headers(self) -> dict[str, str]:
        # The rest of the body may still be on its way: the connection is of no more use.
        return {"Connection": "close"}


class RequestDeadlineMiddleware:
    def __init__(self, app: ASGIApp, *, seconds: float, upload_seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self.upload_seconds = upload_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seconds = self.upload_seconds if is_upload(scope) else self.seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeoutError(
                    f"The request was not received within {seconds:g} seconds."
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, receive_in_time, send)


class ClientSlots:
    """Requests in progress per client address, at most ``limit`` each: one count
    for the gateway's every path to a service (the middleware below and
    :mod:`shop.gateway.fast_path`)."""

    def __init__(self, limit: int, trusted_proxies: Proxies) -> None:
        self.limit = limit
        self.trusted_proxies = trusted_proxies
        self.in_progress: dict[str, int] = {}  # by client address; absent: none

    def client_of(self, scope: Scope) -> str:
        # An IPv6 client is its /64, as for the rate limits: it has that many addresses.
        return client_key(scope_client_ip(scope, self.trusted_proxies))

    def take(self, client: str) -> bool:
        """Whether ``client`` may start one more request (then counted as started)."""
        count = self.in_progress.get(client, 0)
        if count >= self.limit:
            return False
        self.in_progress[client] = count + 1
        return True

    def give_back(self, client: str) -> None:
        remaining = self.in_progress[client] - 1
        if remaining:
            self.in_progress[client] = remaining
        else:
            del self.in_progress[client]

    def refusal(self) -> Response:
        return problem_response(
            429,
            title="Too many requests in progress",
            detail=f"At most {self.limit} requests from one address may be in progress.",
            type_="https://shop.dev/problems/too-many-requests-in-progress",
            headers={"Retry-After": "1"},
        )


class ClientConcurrencyMiddleware:
    def __init__(self, app: ASGIApp, *, slots: ClientSlots) -> None:
        self.app = app
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = self.slots.client_of(scope)
        if not self.slots.take(client):
            await self.slots.refusal()(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.give_back(client)
